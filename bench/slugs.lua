-- slugs.lua: wrk script for scripts/bench.sh. Each request asks for the
-- recommendations of the next slug of a file (one slug per line), so the
-- load spreads over the whole catalog.
--   wrk ... -s bench/slugs.lua URL -- SLUGS_FILE LIMIT
local slugs, i, limit = {}, 0, "10"

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then slugs[#slugs + 1] = line end
  end
  limit = args[2] or limit
  i = math.random(#slugs)
end

function request()
  i = i % #slugs + 1
  return wrk.format("GET", "/products/" .. slugs[i] .. "/recommendations?limit=" .. limit)
end
