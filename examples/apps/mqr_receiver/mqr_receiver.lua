-- mqr_receiver: counts what it takes from "testpipe" and prints the rate once a second
-- (spec §9.5).
local mqr_receiver = {}

local queue

function mqr_receiver.init()
  queue = mqr.create("testpipe")
end

function mqr_receiver.run()
  local count = 0
  local since = time.now()
  while not must_stop() do
    local message = queue:recv(1000) -- nil, "timeout" or nil, "stopped"
    if message ~= nil then
      count = count + 1
    end
    local now = time.now()
    if now - since >= 1000 then
      print(instance_id .. ": " .. count .. " messages/s")
      io.stdout:flush() -- stdout is block-buffered when it is not a terminal
      count = 0
      since = now
    end
  end
end

return mqr_receiver
