-- spinner: a run() that never looks at must_stop(). It catches the first "instance
-- stopped" error, reports it on the queue "spinner", and spins again, so only a repeated
-- interrupt ends it.
local spinner = {}

local report

function spinner.init()
  report = mqr.create("spinner")
end

function spinner.run()
  report:post({ event = "run" })
  local _, err = pcall(function()
    while true do
    end
  end)
  report:post({ event = "caught", error = tostring(err) })
  while true do
  end
end

return spinner
