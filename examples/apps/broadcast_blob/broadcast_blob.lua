-- broadcast_blob: about 5 KB of ASCII art on broadcast channel 2000 every 5 seconds
-- (spec §9.4). With auto_fragment on, clients see it in 1392-byte frames.
local broadcast_blob = {}

local blob

function broadcast_blob.init()
  bcast:create(2000)
  local rows = {}
  for row = 1, 64 do
    local cells = {}
    for col = 1, 79 do
      cells[col] = ((row * col) % 7 == 0) and "#" or "."
    end
    rows[row] = table.concat(cells)
  end
  blob = table.concat(rows, "\n")
end

function broadcast_blob.run()
  local sleeper = nap:new()
  local counter = 0
  while not must_stop() do
    counter = counter + 1
    bcast:send(2000, { cid = 6, message = { counter, time.now(), blob } })
    sleeper:sleep(5)
  end
end

return broadcast_blob
