-- Lean Companion for Neovim (0.7+): start Lean's server through `lean-companion serve`,
-- and commands/keymaps for the companion's requests and code actions.
--
--   require('lean_companion').setup({})            -- plain vim.lsp, no lean.nvim
--   vim.lsp.config('leanls', { cmd = require('lean_companion').lean_nvim_cmd() })  -- lean.nvim, Nvim 0.11+
--
-- The custom requests ($/leanCompanion/suggest, fillSorry, premises, status) are answered by
-- the proxy itself; see docs/editor-protocol.md.

local M = {}

-- vim.uv since Neovim 0.10; vim.loop before (and deprecated after)
local uv = vim.uv or vim.loop

M.defaults = {
  -- the lean-companion executable (name on PATH or absolute path)
  companion = 'lean-companion',
  -- extra arguments for `lean-companion serve`, e.g. { '--log-file', '/tmp/lc.log' }
  serve_args = {},
  -- the server behind the proxy; nil: `lake serve --` in a Lake project, else `lean --server`
  server_cmd = nil,
  -- a complete command replacing all of the above (tests use it)
  cmd = nil,
  -- LSP client name; lean.nvim looks for 'leanls'
  name = 'leanls',
  filetypes = { 'lean' },
  -- start a client for Lean buffers; false: only define the commands (e.g. with lean.nvim)
  autostart = true,
  root_markers = { 'lakefile.lean', 'lakefile.toml', 'lean-toolchain' },
  -- buffer-local keymaps on attach; false disables, or a table overriding single keys
  keymaps = true,
  on_attach = nil,
  -- the log file opened by :LeanCompanionLog when the proxy does not name one
  log_file = nil,
  -- a partial companion configuration with the keys of .lean-companion.toml, sent to the proxy
  -- as $/leanCompanion/configure when the client starts, e.g. { suggest = { max_candidates = 4 } }
  settings = nil,
}

M.default_keymaps = {
  suggest = '<LocalLeader>cs',
  fill_sorry = '<LocalLeader>cf',
  fill_all = '<LocalLeader>cF',
  premises = '<LocalLeader>cp',
  try_actions = '<LocalLeader>ca',
  status = '<LocalLeader>ci',
}

M.config = vim.deepcopy(M.defaults)

local clients_by_root = {}
-- clients that already got the `settings` (by client id)
local configured = {}
--- The last `status` each proxy reported (by client id): answers to `status` and the proxy's
--- `$/leanCompanion/statusChanged` notifications. Read it from a statusline.
M.last_status = {}

local function notify(message, level)
  vim.notify('lean-companion: ' .. message, level or vim.log.levels.INFO)
end

local function exists(path)
  return uv.fs_stat(path) ~= nil
end

--- The nearest folder above `path` holding one of the root markers (nil: none).
function M.find_root(path, markers)
  markers = markers or M.config.root_markers
  local dir = vim.fn.fnamemodify(path, ':p:h')
  while dir and dir ~= '' do
    for _, marker in ipairs(markers) do
      if exists(dir .. '/' .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  return nil
end

--- The command that starts the proxy for a project rooted at `root`.
function M.cmd(root)
  local c = M.config
  if c.cmd then
    return vim.deepcopy(c.cmd)
  end
  local server = c.server_cmd
  if not server then
    local lake = root and (exists(root .. '/lakefile.lean') or exists(root .. '/lakefile.toml'))
    server = lake and { 'lake', 'serve', '--' } or { 'lean', '--server' }
  end
  local cmd = { c.companion, 'serve' }
  vim.list_extend(cmd, c.serve_args)
  table.insert(cmd, '--')
  vim.list_extend(cmd, server)
  return cmd
end

local function notify_server(client, method, params)
  if vim.fn.has('nvim-0.11') == 1 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

local function request(client, method, params, handler, bufnr)
  if vim.fn.has('nvim-0.11') == 1 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- The companion's LSP client attached to `bufnr` (nil: none).
function M.client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local get = vim.lsp.get_clients or vim.lsp.buf_get_clients
  local clients = vim.lsp.get_clients and get({ bufnr = bufnr }) or get(bufnr)
  for _, client in pairs(clients or {}) do
    if client.name == M.config.name then
      return client
    end
  end
  return nil
end

local function map_keys(bufnr)
  local keys = M.config.keymaps
  if keys == false then
    return
  end
  keys = vim.tbl_extend('force', M.default_keymaps, type(keys) == 'table' and keys or {})
  local actions = {
    suggest = M.suggest,
    fill_sorry = function() M.fill_sorry('position') end,
    fill_all = function() M.fill_sorry('file') end,
    premises = M.premises,
    try_actions = M.try_actions,
    status = M.status,
  }
  for name, lhs in pairs(keys) do
    if lhs and actions[name] then
      vim.keymap.set('n', lhs, actions[name], { buffer = bufnr, desc = 'lean-companion: ' .. name })
    end
  end
end

--- Start (or reuse) the companion's client for `bufnr` and attach it. Returns the client id.
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local file = vim.api.nvim_buf_get_name(bufnr)
  local root = M.find_root(file) or vim.fn.fnamemodify(file, ':p:h')
  local config = {
    name = M.config.name,
    cmd = M.cmd(root),
    cmd_cwd = root,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ':t') } },
    init_options = { hasWidgets = false },
    on_init = function(client)
      configured[client.id] = true
      if M.config.settings then
        notify_server(client, '$/leanCompanion/configure', { settings = M.config.settings })
      end
    end,
    handlers = M.handlers,
    on_attach = function(client, attached)
      map_keys(attached)
      if M.config.on_attach then
        M.config.on_attach(client, attached)
      end
    end,
  }
  if vim.lsp.start then -- Neovim 0.8+
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = clients_by_root[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client(config)
    if not id then
      notify('could not start ' .. table.concat(config.cmd, ' '), vim.log.levels.ERROR)
      return nil
    end
    clients_by_root[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

local function position_params(client)
  return vim.lsp.util.make_position_params(0, client.offset_encoding)
end

local function with_client(fn)
  local client = M.client(0)
  if not client then
    notify('no lean-companion client on this buffer (is this a Lean file? see :LspInfo)', vim.log.levels.WARN)
    return
  end
  fn(client)
end

local function report_error(err)
  if err.code == -32601 then
    notify("the server answered 'method not found': Lean runs without the companion", vim.log.levels.ERROR)
  else
    notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
  end
end

--- Apply a (LSP) WorkspaceEdit from the companion.
local function apply_edit(edit, client)
  vim.lsp.util.apply_workspace_edit(edit, client.offset_encoding)
end

--- Ask for tactic suggestions at the cursor; the one picked replaces its range / is inserted.
function M.suggest()
  with_client(function(client)
    local bufnr = vim.api.nvim_get_current_buf()
    local params = position_params(client)
    params.textDocument.version = vim.lsp.util.buf_versions and vim.lsp.util.buf_versions[bufnr]
    local tick = vim.api.nvim_buf_get_changedtick(bufnr)
    request(client, '$/leanCompanion/suggest', params, function(err, result)
      if err then
        return report_error(err)
      end
      if not result or #result.suggestions == 0 then
        return notify(result and result.goal and 'no suggestion for this goal' or 'no goal at the cursor')
      end
      vim.ui.select(result.suggestions, {
        prompt = 'Tactic (' .. tostring(result.latencyMs) .. ' ms):',
        format_item = function(s)
          return s.tactic .. '  [' .. s.verdict .. ', ' .. s.source .. ']'
        end,
      }, function(choice)
        if not choice then
          return
        end
        if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
          return notify('the buffer changed while suggesting; ask again', vim.log.levels.WARN)
        end
        local range = choice.range or { start = params.position, ['end'] = params.position }
        apply_edit({ changes = { [params.textDocument.uri] = { { range = range, newText = choice.tactic } } } }, client)
      end)
    end, bufnr)
  end)
end

--- Fill the sorry at the cursor (`scope` 'position') or every sorry of the file ('file').
function M.fill_sorry(scope)
  with_client(function(client)
    local bufnr = vim.api.nvim_get_current_buf()
    local params = position_params(client)
    params.scope = scope or 'position'
    local tick = vim.api.nvim_buf_get_changedtick(bufnr)
    notify(params.scope == 'file' and 'filling every sorry in the file…' or 'searching a proof…')
    request(client, '$/leanCompanion/fillSorry', params, function(err, result)
      if err then
        return report_error(err)
      end
      if (result.status == 'proved' or result.status == 'partial') and result.edit then
        if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
          return notify('the buffer changed during the search; the proof was not inserted', vim.log.levels.WARN)
        end
        apply_edit(result.edit, client)
        return notify(string.format('%s (checked by Lean, %.1f s)', result.status, result.stats.elapsedMs / 1000))
      end
      notify(string.format('%s after %.1f s', result.status, result.stats.elapsedMs / 1000))
    end, bufnr)
  end)
end

--- Premises for the goal at the cursor; the one picked is inserted by name.
function M.premises()
  with_client(function(client)
    local params = position_params(client)
    params.k = 20
    request(client, '$/leanCompanion/premises', params, function(err, result)
      if err then
        return report_error(err)
      end
      if not result or #result.premises == 0 then
        return notify('no premises found')
      end
      vim.ui.select(result.premises, {
        prompt = 'Premise:',
        format_item = function(p)
          return p.name .. ' : ' .. p.signature .. '  (' .. p.module .. ')'
        end,
      }, function(choice)
        if choice then
          vim.api.nvim_put({ choice.name }, 'c', true, true)
        end
      end)
    end, 0)
  end)
end

--- Send `overlay` (a partial configuration, keys of .lean-companion.toml) to the proxy of the
--- current buffer; it applies without restarting Lean.
function M.configure(overlay)
  with_client(function(client)
    notify_server(client, '$/leanCompanion/configure', { settings = overlay })
  end)
end

--- Show the proxy's status (model, index, last latency).
function M.status()
  with_client(function(client)
    request(client, '$/leanCompanion/status', vim.empty_dict(), function(err, s)
      if err then
        return report_error(err)
      end
      M.last_status[client.id] = s
      local model = 'portfolio'
      for _, m in ipairs(s.models or {}) do
        if m.active and m.role == 'tactic' then
          model = m.id
        end
      end
      notify(string.format('%s · model %s · index %s (%d) · last %s ms', s.version, model, s.index.state,
        s.index.declarations, tostring(s.lastLatencyMs)))
    end, 0)
  end)
end

--- Open the proxy's log file.
function M.log()
  local function open(path)
    if path and exists(path) then
      vim.cmd('split ' .. vim.fn.fnameescape(path))
    else
      notify('no log file found' .. (path and (' at ' .. path) or ''), vim.log.levels.WARN)
    end
  end
  local client = M.client(0)
  if not client then
    return open(M.config.log_file)
  end
  request(client, '$/leanCompanion/status', vim.empty_dict(), function(err, s)
    open((not err and s and s.logFile) or M.config.log_file)
  end, 0)
end

local function line_diagnostics(bufnr, row)
  if vim.fn.has('nvim-0.10') == 1 then -- the LSP diagnostic is kept in user_data.lsp
    local result = {}
    for _, d in ipairs(vim.diagnostic.get(bufnr, { lnum = row })) do
      if d.user_data and d.user_data.lsp then
        table.insert(result, d.user_data.lsp)
      end
    end
    return result
  end
  if vim.lsp.diagnostic.get_line_diagnostics then -- Neovim 0.7 - 0.9
    local ok, result = pcall(vim.lsp.diagnostic.get_line_diagnostics, bufnr, row)
    if ok then
      return result
    end
  end
  return {}
end

--- The companion's code actions at the cursor ("Try: …", "Try this: …", "Fill sorry…",
--- "Insert premise…"), picked with vim.ui.select and applied. Works on Neovim 0.7 (whose
--- vim.lsp.buf.code_action has no filter).
function M.try_actions()
  with_client(function(client)
    local bufnr = vim.api.nvim_get_current_buf()
    -- the cursor as an empty range, as vim.lsp.buf.code_action() and VS Code send it: servers
    -- (Lean, the companion) read the position from range.start
    local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
    local row = params.range.start.line
    params.context = { diagnostics = line_diagnostics(bufnr, row) }
    request(client, 'textDocument/codeAction', params, function(err, actions)
      if err then
        return report_error(err)
      end
      local ours = {}
      for _, a in ipairs(actions or {}) do
        local t = a.title or ''
        if t:match('^Try') or t:match('^Fill sorry') or t:match('^Insert premise') then
          table.insert(ours, a)
        end
      end
      if #ours == 0 then
        return notify('no suggestion here')
      end
      vim.ui.select(ours, {
        prompt = 'Apply:',
        format_item = function(a) return a.title end,
      }, function(choice)
        if not choice then
          return
        end
        if choice.edit then
          apply_edit(choice.edit, client)
        end
        local command = type(choice.command) == 'table' and choice.command or nil
        if command then
          request(client, 'workspace/executeCommand', command, function() end, bufnr)
        end
      end)
    end, bufnr)
  end)
end

--- Handlers for the proxy's own notifications, given to the clients this module starts (and
--- merged into any client named `config.name` on attach, e.g. lean.nvim's).
M.handlers = {
  ['$/leanCompanion/statusChanged'] = function(_, status, ctx)
    if ctx and ctx.client_id and type(status) == 'table' then
      M.last_status[ctx.client_id] = status
    end
  end,
}

--- A client of ours that this module did not start (lean.nvim's `leanls`, or one configured
--- with vim.lsp.config): give it the settings, the statusChanged handler and the keymaps.
local function adopt(client, bufnr)
  if client.name ~= M.config.name then
    return
  end
  map_keys(bufnr)
  if configured[client.id] then
    return
  end
  configured[client.id] = true
  client.handlers = client.handlers or {}
  for method, handler in pairs(M.handlers) do
    if client.handlers[method] == nil then
      client.handlers[method] = handler
    end
  end
  if M.config.settings then
    notify_server(client, '$/leanCompanion/configure', { settings = M.config.settings })
  end
end

--- For lean.nvim on Neovim 0.11+: a `cmd` function for vim.lsp.config('leanls', { cmd = … })
--- that runs lean.nvim's usual server (lake serve / lean --server) behind the companion.
function M.lean_nvim_cmd()
  return function(dispatchers, config)
    local root = config.root_dir or vim.fn.getcwd()
    return vim.lsp.rpc.start(M.cmd(root), dispatchers, { cwd = config.cmd_cwd or root, env = config.cmd_env })
  end
end

local commands = {
  LeanCompanionSuggest = { M.suggest, 'Suggest tactics at the cursor' },
  LeanCompanionFillSorry = { function() M.fill_sorry('position') end, 'Fill the sorry at the cursor' },
  LeanCompanionFillAll = { function() M.fill_sorry('file') end, 'Fill every sorry in the file' },
  LeanCompanionPremises = { M.premises, 'Premises for the goal at the cursor' },
  LeanCompanionTry = { M.try_actions, "Apply one of the companion's code actions" },
  LeanCompanionStatus = { M.status, "Show the companion's status" },
  LeanCompanionLog = { M.log, "Open the companion's log" },
}

--- Configure, define the :LeanCompanion* commands, and start the client for Lean buffers.
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  for name, spec in pairs(commands) do
    vim.api.nvim_create_user_command(name, function() spec[1]() end, { desc = spec[2] })
  end
  local group = vim.api.nvim_create_augroup('lean_companion', { clear = true })
  -- Neovim before 0.10 has no `lean` filetype for *.lean
  vim.api.nvim_create_autocmd({ 'BufRead', 'BufNewFile' }, {
    group = group,
    pattern = '*.lean',
    callback = function(args)
      if vim.bo[args.buf].filetype == '' then
        vim.bo[args.buf].filetype = 'lean'
      end
    end,
  })
  if vim.fn.has('nvim-0.8') == 1 then
    -- clients started elsewhere (lean.nvim, vim.lsp.enable('leanls')) get the same extras
    vim.api.nvim_create_autocmd('LspAttach', {
      group = group,
      callback = function(args)
        local client = args.data and vim.lsp.get_client_by_id(args.data.client_id)
        if client then
          adopt(client, args.buf)
        end
      end,
    })
  end
  if M.config.autostart and #M.config.filetypes > 0 then
    vim.api.nvim_create_autocmd('FileType', {
      group = group,
      pattern = M.config.filetypes,
      callback = function(args)
        M.start(args.buf)
      end,
    })
  end
end

return M
