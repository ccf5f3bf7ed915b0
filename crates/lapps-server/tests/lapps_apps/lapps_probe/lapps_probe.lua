-- lapps_probe: a LAppS-protocol service for tests/lapps_protocol.rs. Each request method
-- exercises one rule of the server (spec §3.4 failure handling, §4.6 outbound validation,
-- §3.9 broadcasts) and reports what happened in its result, so that the test can assert the
-- exact values a Lua service sees.
local lapps_probe = {}

local function reply(handler, result)
  return ws:send(handler, { cid = 0, status = 1, result = result })
end

-- The two values a ws or bcast call returned, as strings: {"true", "nil"} on success,
-- {"false", "<message>"} on failure.
local function show(ok, err)
  return { tostring(ok), tostring(err) }
end

-- The channel "join" and "cast" use; created on first use.
local CHANNEL = 77

local requests = {}

function requests.ping(handler)
  reply(handler, { "pong" })
end

-- Spec §3.4: a request whose handler raises gets -32603 from lapps.
function requests.raise()
  error("lapps_probe: raised on a request")
end

-- ... unless the handler already answered on cid 0.
function requests.answer_then_raise(handler)
  reply(handler, { "answered" })
  error("lapps_probe: raised after answering")
end

-- An OON is not an answer: -32603 still follows.
function requests.oon_then_raise(handler)
  ws:send(handler, { cid = 3, message = { "before the error" } })
  error("lapps_probe: raised after an OON")
end

-- This connection's handler.
function requests.whoami(handler)
  reply(handler, { handler })
end

-- A cid 0 message to another connection (params[1], a handler) is not an answer to this
-- request: -32603 still follows. The send works across instances (spec §3.3).
function requests.answer_other_then_raise(handler, request)
  ws:send(request.params[1], { cid = 0, status = 1, result = { "for another connection" } })
  error("lapps_probe: raised after answering another connection")
end

-- Spec §4.6 and §3.9: which messages ws:send and bcast:send refuse, and with what message.
-- The first send is valid and reaches the client before the report.
function requests.outbound(handler)
  reply(handler, {
    show(ws:send(handler, { cid = 0, status = 0, error = { code = 1, message = "x" } })),
    show(ws:send(handler, { cid = 1, status = 0, error = { code = 1, message = "x" } })),
    show(ws:send(handler, { cid = 0, status = 1 })),
    show(ws:send(handler, { cid = 3 })),
    show(ws:send(handler, { cid = 0 })),
    show(ws:send(handler, { status = 1, result = { 1 } })),
    show(ws:send(handler, { cid = 0, status = 0 })),
    show(ws:send(handler, { cid = 4, status = 0, message = { "x" } })),
    show(ws:send(handler, { cid = 4, status = 2, message = { "x" } })),
    show(ws:send(handler, "not an object")),
    show(bcast:send(1000, { cid = 0, message = {} })),
    show(bcast:send(1000, { cid = 5 })),
    show(bcast:send(1000, { cid = 5, status = 2, message = { "x" } })),
    show(bcast:send(99, { cid = 1, message = { "x" } })),
  })
end

-- Spec §3.9: subscribe this connection to CHANNEL.
function requests.join(handler)
  bcast:create(CHANNEL)
  reply(handler, show(bcast:subscribe(CHANNEL, handler)))
end

-- Broadcast on CHANNEL, then report what bcast:send returned.
function requests.cast(handler)
  reply(handler, show(bcast:send(CHANNEL, { cid = 8, message = { "cast" } })))
end

function lapps_probe.onMessage(handler, msg_type, request)
  local method = request.method
  if msg_type == 1 or msg_type == 2 then
    -- Spec §3.4: raising on a client notification is only logged.
    if method == "raise" then
      error("lapps_probe: raised on a notification")
    end
    return
  end
  local handle = requests[method]
  if handle == nil then
    ws:send(handler, { cid = 0, status = 0, error = { code = -32601, message = "Method not found" } })
    return
  end
  handle(handler, request)
end

return lapps_probe
