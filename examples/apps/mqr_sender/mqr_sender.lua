-- mqr_sender: posts to the queue "testpipe" as fast as it is consumed (spec §9.5).
local mqr_sender = {}

local queue

function mqr_sender.init()
  queue = mqr.create("testpipe")
end

function mqr_sender.run()
  local sleeper = nap:new()
  local payload = string.rep("x", 64)
  local n = 0
  while not must_stop() do
    n = n + 1
    local ok = queue:post({ message = { "Hello World", payload, n } })
    if not ok then
      n = n - 1
      sleeper:usleep(1000) -- the queue is full: let the receivers catch up
    end
  end
end

return mqr_sender
