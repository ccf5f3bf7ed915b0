-- probe: a raw service that answers text commands about itself, for the end-to-end tests
-- in tests/lua_services.rs. Anything that is not a command is echoed back.
--
--   id              -> instance_id
--   whoami          -> the connection's handler
--   count           -> onDisconnect calls so far in this instance
--   seen <h>        -> onDisconnect calls so far for handler <h>
--   live            -> connections of this instance that sent a message and have not closed
--   store           -> remembers this handler; "stored"
--   send_stored     -> ws:send to the remembered handler; the result as "<ok> <err>"
--   send_unknown    -> ws:send to a handler that was never issued; the result
--   bad_opcode      -> ws:send(h, 3, "x"); the result
--   bad_utf8        -> ws:send(h, 1, <invalid UTF-8>); the result
--   bad_close       -> ws:close(h, 1005); the result
--   close           -> ws:close(h, 4000, "bye"), then a send to h, whose result is kept
--   note <h>        -> the result kept by "close" on handler <h>, or "none"
--   false           -> onMessage returns false
--   raise           -> onMessage raises
--   sleep <s>       -> nap:new():sleep(<s>), then "slept" (needs preload "nap")
local probe = {}

local disconnects = 0
local seen = {}   -- tostring(handler) -> onDisconnect calls
local live = {}   -- tostring(handler) -> true
local notes = {}  -- tostring(handler) -> what a send after ws:close returned
local stored = nil

local function result(ok, err)
  return tostring(ok) .. " " .. tostring(err)
end

local function reply(handler, text)
  return ws:send(handler, 1, text)
end

function probe.onMessage(handler, opcode, message)
  live[tostring(handler)] = true
  local command, arg = string.match(message, "^(%S+)%s*(.*)$")
  if opcode ~= 1 or command == nil then
    return ws:send(handler, opcode, message)
  elseif command == "id" then
    return reply(handler, instance_id)
  elseif command == "whoami" then
    return reply(handler, tostring(handler))
  elseif command == "count" then
    return reply(handler, tostring(disconnects))
  elseif command == "seen" then
    return reply(handler, tostring(seen[arg] or 0))
  elseif command == "live" then
    local n = 0
    for _ in pairs(live) do
      n = n + 1
    end
    return reply(handler, tostring(n))
  elseif command == "store" then
    stored = handler
    return reply(handler, "stored")
  elseif command == "send_stored" then
    return reply(handler, result(ws:send(stored, 1, "hello from " .. tostring(handler))))
  elseif command == "send_unknown" then
    return reply(handler, result(ws:send(4503599627370496, 1, "nobody"))) -- 2^52
  elseif command == "bad_opcode" then
    return reply(handler, result(ws:send(handler, 3, "x")))
  elseif command == "bad_utf8" then
    return reply(handler, result(ws:send(handler, 1, "\255\254")))
  elseif command == "bad_close" then
    return reply(handler, result(ws:close(handler, 1005)))
  elseif command == "close" then
    local closed = ws:close(handler, 4000, "bye")
    notes[tostring(handler)] = tostring(closed) .. ", then " .. result(ws:send(handler, 1, "after"))
    return true
  elseif command == "note" then
    return reply(handler, notes[arg] or "none")
  elseif command == "false" then
    return false
  elseif command == "raise" then
    error("raised on purpose")
  elseif command == "sleep" then
    nap:new():sleep(tonumber(arg))
    return reply(handler, "slept")
  end
  return ws:send(handler, opcode, message)
end

function probe.onDisconnect(handler)
  local key = tostring(handler)
  disconnects = disconnects + 1
  seen[key] = (seen[key] or 0) + 1
  live[key] = nil
end

return probe
