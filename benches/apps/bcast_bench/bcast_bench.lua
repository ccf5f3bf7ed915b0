-- bcast_bench: the broadcast service of `lapps-load bcast` (benches/README.md).
--
-- {lapps = 1, method = "subscribe"} subscribes the connection to channel 1 and answers
-- {cid = 0, status = 1, result = {true}}.
-- {lapps = 1, method = "publish", params = {...}} sends {cid = 7, message = params} to every
-- subscriber of channel 1 and answers {cid = 0, status = 1, result = {true}}.
-- The answers are sent with ws:send but not returned from onMessage: a failed send (for
-- example backpressure) must not close the connection.
local bcast_bench = {}

local CHANNEL = 1
local CID = 7

local function answer(handler, ok, err)
  if ok then
    ws:send(handler, { cid = 0, status = 1, result = { true } })
  else
    ws:send(handler, { cid = 0, status = 0, error = { code = -32000, message = tostring(err) } })
  end
end

function bcast_bench.onStart()
  -- Every instance creates the channel; creating an existing one does nothing.
  bcast:create(CHANNEL)
end

function bcast_bench.onMessage(handler, msg_type, request)
  local method = request.method
  if method == "subscribe" then
    answer(handler, bcast:subscribe(CHANNEL, handler))
  elseif method == "publish" and msg_type == 4 then
    answer(handler, bcast:send(CHANNEL, { cid = CID, message = request.params }))
  elseif msg_type == 3 or msg_type == 4 then
    ws:send(handler, { cid = 0, status = 0, error = { code = -32601, message = "Method not found" } })
  end
end

function bcast_bench.onDisconnect(handler)
end

function bcast_bench.onShutdown()
end

return bcast_bench
