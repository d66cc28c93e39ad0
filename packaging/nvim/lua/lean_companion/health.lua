-- :checkhealth lean_companion — the program, its version, the server command the module would
-- start, the client attached to the current buffer, and the proxies' side channel.
local M = {}

local uv = vim.uv or vim.loop

-- vim.health.start/ok/... since Neovim 0.10; require('health').report_* before (0.7 - 0.9)
local health = vim.health or require('health')
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local info = health.info or health.report_info
local warn = health.warn or health.report_warn
local fail = health.error or health.report_error

local function system(cmd)
  local out = vim.fn.system(cmd)
  return vim.v.shell_error, vim.trim(out or '')
end

--- Where `lean-companion serve` writes its status files (docs/editor-protocol.md §6).
function M.runtime_dir()
  local dir = os.getenv('LEAN_COMPANION_RUNTIME_DIR')
  if dir and dir ~= '' then
    return dir
  end
  local state = os.getenv('XDG_STATE_HOME')
  if not state or state == '' then
    state = (os.getenv('HOME') or '') .. '/.local/state'
  end
  return state .. '/lean-companion/proxies'
end

local function alive(pid)
  return type(pid) == 'number' and pid > 0 and uv.kill(pid, 0) == 0
end

--- The live proxies' status files: { {pid=…, root=…, socket=…}, … }.
function M.proxies()
  local found = {}
  local dir = M.runtime_dir()
  for _, file in ipairs(vim.fn.glob(dir .. '/*.json', false, true)) do
    local okay, data = pcall(vim.fn.json_decode, table.concat(vim.fn.readfile(file), '\n'))
    if okay and type(data) == 'table' and alive(data.pid) then
      table.insert(found, data)
    end
  end
  return found
end

local function check_program(lc)
  start('lean-companion program')
  local program = lc.config.companion
  local path = vim.fn.exepath(program)
  if path == '' then
    fail(string.format("'%s' not found (PATH, or setup({ companion = '/path/to/lean-companion' }))", program), {
      'pipx install lean-companion   (or: uv tool install lean-companion)',
    })
    return false
  end
  ok('found: ' .. path)
  local code, out = system({ path, '--version' })
  if code == 0 then
    ok('version: ' .. out)
  else
    fail(string.format("'%s --version' failed (exit %d): %s", path, code, out))
    return false
  end
  return true
end

--- Loaded Lean buffers (:checkhealth runs in a buffer of its own, so look at all of them).
local function lean_buffers()
  local found = {}
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype == 'lean' then
      table.insert(found, bufnr)
    end
  end
  return found
end

local function check_server(lc)
  start('server command')
  local buffers = lean_buffers()
  local file = buffers[1] and vim.api.nvim_buf_get_name(buffers[1]) or ''
  local root = (file ~= '' and lc.find_root(file)) or vim.fn.getcwd()
  local cmd = lc.cmd(root)
  info(string.format('for %s: %s', root, table.concat(cmd, ' ')))
  local sep
  for i, arg in ipairs(cmd) do
    if arg == '--' then
      sep = i
      break
    end
  end
  local server = sep and cmd[sep + 1]
  if server then
    if vim.fn.exepath(server) ~= '' then
      ok(string.format("Lean's server program '%s' found: %s", server, vim.fn.exepath(server)))
    else
      warn(string.format("'%s' is not on PATH: the proxy cannot start Lean (install elan)", server))
    end
  end
  if #buffers == 0 then
    info('open a Lean file to see its client')
  end
  for _, bufnr in ipairs(buffers) do
    local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':~:.')
    local client = lc.client(bufnr)
    if client then
      ok(string.format("client '%s' (id %d) is attached to %s", client.name, client.id, name))
      local status = lc.last_status[client.id]
      if status then
        info(string.format('proxy %s: lean-companion %s, index %s', tostring(status.pid), tostring(status.version),
          status.index and status.index.state or '?'))
      end
    else
      warn(string.format('no lean-companion client on %s (see :LspInfo)', name))
    end
  end
end

local function check_side_channel()
  start('side channel (status files and local sockets)')
  local dir = M.runtime_dir()
  if vim.fn.isdirectory(dir) == 0 then
    info('no proxy has run yet (' .. dir .. ' does not exist)')
    return
  end
  local proxies = M.proxies()
  if #proxies == 0 then
    info('no live proxy in ' .. dir)
    return
  end
  for _, p in ipairs(proxies) do
    local socket = type(p.socket) == 'table' and p.socket.path or nil
    if socket and uv.fs_stat(socket) then
      ok(string.format('proxy %d for %s: socket %s', p.pid, tostring(p.root), socket))
    else
      warn(string.format('proxy %d for %s: its socket is missing (%s)', p.pid, tostring(p.root), tostring(socket)))
    end
  end
end

function M.check()
  local lc = require('lean_companion')
  if check_program(lc) then
    check_server(lc)
  end
  check_side_channel()
end

return M
