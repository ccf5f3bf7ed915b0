-- echo_lapps: login, echo, subscribe and logout over the LAppS protocol (spec §9.2).
local echo_lapps = {}

-- The auth key of each logged-in connection, by tostring(handler).
local keys = {}
local accounts = { admin = "admin", guest = "guest" }
-- Subscription channels: the client's cid, and the broadcast channel behind it.
local channels = { [5] = 1000, [6] = 2000 }

local function send_error(handler, code, message)
  ws:send(handler, { cid = 0, status = 0, error = { code = code, message = message } })
end

-- Sends an error on cid 0, then closes the connection with close_code.
local function refuse(handler, code, message, close_code)
  send_error(handler, code, message)
  ws:close(handler, close_code)
end

-- The first params element as an object, or nil.
local function first_object(request)
  local params = request.params
  if params == nil then
    return nil
  end
  local first = params[1]
  if first == nil or nljson.typename(first) ~= "object" then
    return nil
  end
  return first
end

local function has_valid_key(handler, request)
  local first = first_object(request)
  if first == nil then
    return false
  end
  local key = keys[tostring(handler)]
  return key ~= nil and first.authkey == key
end

local function login(handler, request)
  local credentials = first_object(request)
  local user = credentials and credentials.user
  local password = credentials and credentials.password
  if type(user) ~= "string" or type(password) ~= "string" then
    return refuse(handler, -32602, "Invalid params", 1003)
  end
  if accounts[user] == nil or accounts[user] ~= password then
    return refuse(handler, 10, "Authentication error", 1000)
  end
  local key = murmur.hashstr(tostring(handler) .. ":" .. time.now() .. ":" .. math.random())
  keys[tostring(handler)] = key
  ws:send(handler, { cid = 0, status = 1, result = { { authkey = key } } })
end

local function echo(handler, request)
  if not has_valid_key(handler, request) then
    return refuse(handler, -32000, "Not authorized", 1000)
  end
  ws:send(handler, { cid = 0, status = 1, result = request.params })
end

local function subscribe(handler, request)
  local channel = channels[request.cid]
  if channel == nil then
    return refuse(handler, -32602, "Invalid params", 1003)
  end
  if not has_valid_key(handler, request) then
    return refuse(handler, -32000, "Not authorized", 1000)
  end
  bcast:subscribe(channel, handler)
end

local function logout(handler, request)
  if not has_valid_key(handler, request) then
    return refuse(handler, 20, "Cannot log out", 1000)
  end
  keys[tostring(handler)] = nil
  ws:close(handler, 1000)
end

function echo_lapps.onStart()
  bcast:create(1000)
  bcast:create(2000)
end

function echo_lapps.onMessage(handler, msg_type, request)
  local method = request.method
  if msg_type == 1 then
    return refuse(handler, -32600,
      "This server does not accept Client Notifications without params", 1003)
  elseif msg_type == 3 then
    if method == "login" or method == "echo" then
      return refuse(handler, -32602, "Invalid params", 1003)
    end
  elseif msg_type == 4 then
    if method == "login" then
      return login(handler, request)
    elseif method == "echo" then
      return echo(handler, request)
    end
  elseif msg_type == 2 then
    if method == "subscribe" then
      return subscribe(handler, request)
    elseif method == "logout" then
      return logout(handler, request)
    end
  end
  refuse(handler, -32601, "Method not found", 1003)
end

function echo_lapps.onDisconnect(handler)
  keys[tostring(handler)] = nil
end

function echo_lapps.onShutdown()
end

return echo_lapps
