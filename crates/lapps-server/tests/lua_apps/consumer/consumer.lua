-- consumer: takes messages from "numbers" and forwards each id, with the instance_id of
-- the instance that took it, to "received". It pauses 200 µs after each message so that
-- every instance gets a share.
local consumer = {}

local input
local output

function consumer.init()
  input = mqr.create("numbers")
  output = mqr.create("received")
end

function consumer.run()
  local sleeper = nap:new()
  while not must_stop() do
    local message = input:recv(100)
    if message ~= nil then
      local ok, err = output:post({ id = message.id, consumer = instance_id })
      if not ok then
        error("forward " .. tostring(message.id) .. ": " .. tostring(err))
      end
      sleeper:usleep(200)
    end
  end
end

return consumer
