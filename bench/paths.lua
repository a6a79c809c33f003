-- paths.lua: wrk script for scripts/bench-queries.sh and
-- scripts/bench-ceiling.sh. Each request asks for the next line of a file
-- of request targets (path and query string, one per line), starting at a
-- random line, so the load spreads over every prepared query. Prints the
-- summary line of report.lua at the end.
--   wrk ... -s bench/paths.lua URL -- PATHS_FILE
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local paths, i = {}, 0

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("paths.lua: no request targets in " .. args[1]) end
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
