-- echo: every message goes back with the same opcode and the same bytes (spec §9.1).
local echo = {}

function echo.onStart()
end

function echo.onMessage(handler, opcode, message)
  -- A refused send (backpressure, or a connection already closed) returns false, and
  -- returning false closes this connection with 1011.
  return ws:send(handler, opcode, message)
end

function echo.onDisconnect(handler)
end

function echo.onShutdown()
end

return echo
