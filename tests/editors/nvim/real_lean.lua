-- Headless Neovim (0.7+) through the lean_companion plugin, with the proxy in front of real Lean
-- (prelude files only). Run by tests/editors/test_nvim_real_lean.py:
--   nvim --headless -u NONE -i NONE -n -c 'luafile tests/editors/nvim/real_lean.lua'
-- Environment: LC_PLUGIN_DIR, LC_CMD_JSON (server command), LC_FILE, LC_OUT (observations, JSON),
-- LC_HOVER_LINE / LC_HOVER_CHAR (0-based position to hover). It only observes; Python asserts.
local out = {}
local function env(name)
  local value = os.getenv(name)
  assert(value and value ~= '', 'missing environment variable ' .. name)
  return value
end

local ok, problem = pcall(function()
  vim.opt.runtimepath:prepend(env('LC_PLUGIN_DIR'))
  local lc = require('lean_companion')
  lc.setup({ cmd = vim.fn.json_decode(env('LC_CMD_JSON')) })
  out.nvim = tostring(vim.version().major) .. '.' .. tostring(vim.version().minor)
  vim.cmd('edit ' .. vim.fn.fnameescape(env('LC_FILE')))
  local bufnr = vim.api.nvim_get_current_buf()
  out.attached = vim.wait(30000, function() return lc.client(bufnr) ~= nil end, 20)
  local client = assert(lc.client(bufnr), 'no lean-companion client attached')
  out.got_diagnostics = vim.wait(60000, function() return #vim.diagnostic.get(bufnr) > 0 end, 20)
  out.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(out.diagnostics, { lnum = d.lnum, col = d.col, severity = d.severity, message = d.message })
  end
  table.sort(out.diagnostics, function(a, b) return a.lnum < b.lnum end)
  local response = client.request_sync('textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = tonumber(env('LC_HOVER_LINE')), character = tonumber(env('LC_HOVER_CHAR')) },
  }, 30000, bufnr)
  out.hover = response and (response.err and { error = response.err.message } or response.result) or vim.NIL
  out.still_attached = lc.client(bufnr) ~= nil and not client.is_stopped()
end)
out.ok = ok
if not ok then out.problem = tostring(problem) end
local f = assert(io.open(env('LC_OUT'), 'w'))
f:write(vim.fn.json_encode(out))
f:close()
vim.cmd('qa!')
