-- producer: posts {id = 1} to {id = 2000} to the queue "numbers", then returns.
-- tests/lua_services.rs counts on exactly these 2000 ids.
local producer = {}

local queue

function producer.init()
  queue = mqr.create("numbers")
end

function producer.run()
  for id = 1, 2000 do
    local ok, err = queue:post({ id = id })
    if not ok then
      error("post " .. id .. ": " .. tostring(err))
    end
  end
end

return producer
