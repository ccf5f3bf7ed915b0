-- time_broadcast: the server time on broadcast channel 1000, once a second (spec §9.3).
local time_broadcast = {}

function time_broadcast.init()
  bcast:create(1000)
end

function time_broadcast.run()
  local sleeper = nap:new()
  while not must_stop() do
    bcast:send(1000, { cid = 5, message = { "Server time: " .. os.date("%c") } })
    sleeper:sleep(1) -- returns at once when the service stops
  end
end

return time_broadcast
