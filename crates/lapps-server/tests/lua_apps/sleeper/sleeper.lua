-- sleeper: reports must_stop() when run starts, sleeps in 30 s naps until must_stop(), and
-- reports how the last nap ended, all on the queue "sleeper".
local sleeper = {}

local report

function sleeper.init()
  report = mqr.create("sleeper")
end

function sleeper.run()
  report:post({ event = "run", must_stop = must_stop() })
  local pause = nap:new()
  local full = true
  while not must_stop() do
    full = pause:sleep(30)
  end
  report:post({ event = "stopped", must_stop = must_stop(), full = full })
end

return sleeper
