-- Drives a headless Neovim (0.7+) as a real LSP client of the proxy, through the
-- lean_companion plugin module. Run by tests/editors/test_nvim_*.py:
--   nvim --headless -u NONE -i NONE -n -c 'luafile tests/editors/nvim/session.lua'
-- Environment: LC_PLUGIN_DIR, LC_CMD_JSON (the server command), LC_FILE (the .lean file),
-- LC_OUT (where the observations go, as JSON), LC_SCENARIO ('roundtrip' or 'crash'),
-- LC_SETTINGS_JSON (optional: the plugin's `settings`, sent as $/leanCompanion/configure),
-- LC_EXPECT_DIAGNOSTICS ('0': do not wait for diagnostics), LC_LOG (scenario 'commands'),
-- LC_ROUTE ('setup', the default: require('lean_companion').setup{} starts the client;
-- 'lsp_config' (Neovim 0.11+): vim.lsp.config('leanls', {cmd = lean_nvim_cmd()}) +
-- vim.lsp.enable('leanls'), as lean.nvim users configure it), LC_HEALTH ('1': also run
-- :checkhealth lean_companion at the end and record its text).
-- This script only observes and records; the Python test makes the assertions.

local out = {}
local uv = vim.uv or vim.loop
local modern = vim.fn.has('nvim-0.11') == 1

--- client:name(...) on Neovim 0.11+ (where client.name(...) is deprecated), client.name(...) before.
local function call(client, name, ...)
  if modern then
    return client[name](client, ...)
  end
  return client[name](...)
end

local function all_clients()
  return (vim.lsp.get_clients or vim.lsp.get_active_clients)()
end
local function env(name)
  local value = os.getenv(name)
  assert(value and value ~= '', 'missing environment variable ' .. name)
  return value
end

local function write_out()
  local f = assert(io.open(env('LC_OUT'), 'w'))
  f:write(vim.fn.json_encode(out))
  f:close()
end

local publishes = {}
local original_publish = vim.lsp.handlers['textDocument/publishDiagnostics']
vim.lsp.handlers['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
  table.insert(publishes, { count = #result.diagnostics, version = result.version or vim.NIL, at = uv.now() })
  return original_publish(err, result, ctx, config)
end

local function diagnostics(bufnr)
  local list = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(list, { lnum = d.lnum, col = d.col, severity = d.severity, message = d.message, source = d.source or vim.NIL })
  end
  table.sort(list, function(a, b) return a.lnum < b.lnum end)
  return list
end

local function sync(client, method, params, bufnr, timeout)
  local response, err = call(client, 'request_sync', method, params, timeout or 15000, bufnr)
  if not response then
    return { transport_error = tostring(err) }
  end
  if response.err then
    return { error = { code = response.err.code, message = response.err.message } }
  end
  return { result = response.result == nil and vim.NIL or response.result }
end

local function roundtrip(lc, client, bufnr)
  out.hover = sync(client, 'textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = 0, character = 26 },
  }, bufnr)
  out.plain_goal = sync(client, '$/lean/plainGoal', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = 4, character = 2 },
  }, bufnr)
  out.code_actions = sync(client, 'textDocument/codeAction', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = { start = { line = 1, character = 2 }, ['end'] = { line = 1, character = 8 } },
    context = { diagnostics = {} },
  }, bufnr)
  -- apply the double's "Try this" quickfix through the plugin's :LeanCompanionTry path
  -- pick Lean's own "Try this" action (the companion may offer its "Try: …" ones beside it)
  local offered = {}
  vim.ui.select = function(items, opts, on_choice)
    local chosen
    for i, item in ipairs(items) do
      local label = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(offered, label)
      if not chosen and label:match('^Try this:') then
        chosen = i
      end
    end
    on_choice(chosen and items[chosen] or nil, chosen)
  end
  vim.api.nvim_win_set_cursor(0, { 2, 2 })
  vim.cmd('LeanCompanionTry')
  vim.wait(10000, function()
    return vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1] ~= '  exact?'
  end, 20)
  out.offered = offered
  out.line_after_action = vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1]
  -- the edit goes to Lean as didChange: the "Try this" message must go away
  out.try_this_gone = vim.wait(15000, function()
    local sorry = false
    for _, d in ipairs(vim.diagnostic.get(bufnr)) do
      if d.message:match('Try this') then
        return false
      end
      sorry = sorry or d.message:match('sorry') ~= nil
    end
    return sorry
  end, 50)
  out.diagnostics_after_edit = diagnostics(bufnr)
  -- the companion's own namespace: answered by the proxy (a result or an error, never a hang)
  out.status = sync(client, '$/leanCompanion/status', vim.empty_dict(), bufnr, 10000)
  -- :LeanCompanionStatus shows it and the module keeps it for statuslines
  vim.cmd('LeanCompanionStatus')
  out.status_kept = vim.wait(10000, function() return lc.last_status[client.id] ~= nil end, 20)
  -- a settings change alters the status; the proxy pushes it ($/leanCompanion/statusChanged)
  lc.configure({ suggest = { code_actions = false } })
  out.status_pushed = vim.wait(10000, function()
    local s = lc.last_status[client.id]
    if not s or not s.features then return false end
    for _, f in ipairs(s.features) do
      if f == 'codeActions' then return false end
    end
    return true
  end, 20)
end

local function crash(lc, client, bufnr)
  local before = #publishes
  out.publishes_before = before
  -- A burst of requests; the double exits at its Nth message, so some are in flight then.
  local outcomes = {}
  local sent = 0
  for i = 1, 25 do
    sent = sent + 1
    call(client, 'request', 'textDocument/hover', {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = 3, character = 30 },
    }, function(err, result)
      table.insert(outcomes, { i = i, ok = err == nil, code = err and err.code or vim.NIL,
        message = err and err.message or vim.NIL })
    end, bufnr)
    vim.wait(40, function() return false end, 10)
  end
  out.sent = sent
  out.all_answered = vim.wait(30000, function() return #outcomes == sent end, 50)
  out.outcomes = outcomes
  -- the restarted server re-opens the document: diagnostics arrive again
  out.republished = vim.wait(30000, function()
    for i = before + 1, #publishes do
      if publishes[i].count > 0 then
        return true
      end
    end
    return false
  end, 50)
  out.publishes = publishes
  out.diagnostics_after = diagnostics(bufnr)
  out.hover_after = sync(client, 'textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = 0, character = 26 },
  }, bufnr)
  -- and the session goes on: an edit is elaborated by the new server
  vim.api.nvim_buf_set_lines(bufnr, 4, 5, false, { '  simp' })
  out.edit_elaborated = vim.wait(15000, function()
    for _, d in ipairs(vim.diagnostic.get(bufnr)) do
      if d.lnum == 3 and d.message:match('sorry') then
        return false
      end
    end
    return true
  end, 50)
  out.diagnostics_after_edit = diagnostics(bufnr)
end

local function commands(lc, client, bufnr)
  -- The plugin's :LeanCompanion* commands against tests/editors/fake_companion_server.py.
  local picks = {}
  vim.ui.select = function(items, opts, on_choice)
    local labels = {}
    for _, item in ipairs(items) do
      table.insert(labels, opts.format_item and opts.format_item(item) or tostring(item))
    end
    table.insert(picks, labels)
    on_choice(items[1], 1)
  end
  local messages = {}
  vim.notify = function(msg) table.insert(messages, msg) end
  local function line(n) return vim.api.nvim_buf_get_lines(bufnr, n, n + 1, false)[1] end

  vim.api.nvim_win_set_cursor(0, { 2, 2 })
  vim.cmd('LeanCompanionSuggest')
  out.suggest_applied = vim.wait(5000, function() return line(1) == '  omega' end, 10)
  vim.api.nvim_win_set_cursor(0, { 4, 2 })
  vim.cmd('LeanCompanionFillSorry')
  out.fill_applied = vim.wait(5000, function() return line(3) == '  simp' end, 10)
  vim.api.nvim_win_set_cursor(0, { 6, 2 })
  vim.cmd('LeanCompanionTry')
  out.command_applied = vim.wait(5000, function() return line(5) == '  decide' end, 10)
  vim.api.nvim_win_set_cursor(0, { 6, 0 })
  vim.cmd('LeanCompanionPremises')
  out.premise_inserted = vim.wait(5000, function() return (line(5) or ''):find('Nat.zero_add', 1, true) ~= nil end, 10)
  local before = #messages
  vim.cmd('LeanCompanionStatus')
  vim.wait(5000, function()
    for i = before + 1, #messages do
      if messages[i]:find('fake-model', 1, true) then return true end
    end
    return false
  end, 10)
  out.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  out.picks = picks
  out.messages = messages
  vim.cmd('LeanCompanionLog')
  out.log_opened = vim.wait(5000, function()
    for _, win in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(win)) == env('LC_LOG') then return true end
    end
    return false
  end, 10)
end

local function fill(lc, client, bufnr)
  -- Filling sorries through the real proxy: the "Fill sorry with a proof (search)" code action
  -- (line 2), :LeanCompanionFillSorry (line 5) and :LeanCompanionSuggest (line 8); only once
  -- copilot answers them.
  out.status = sync(client, '$/leanCompanion/status', vim.empty_dict(), bufnr, 10000)
  local function line(n) return vim.api.nvim_buf_get_lines(bufnr, n, n + 1, false)[1] end
  out.code_actions = sync(client, 'textDocument/codeAction', {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = { start = { line = 1, character = 2 }, ['end'] = { line = 1, character = 7 } },
    context = { diagnostics = {} },
  }, bufnr, 30000)
  local offered = false
  for _, action in ipairs((out.code_actions.result ~= vim.NIL and out.code_actions.result) or {}) do
    offered = offered or action.title == 'Fill sorry with a proof (search)'
  end
  out.fill_action_offered = offered
  if offered then
    vim.ui.select = function(items, opts, on_choice)
      for i, item in ipairs(items) do
        if item.title == 'Fill sorry with a proof (search)' then
          return on_choice(item, i)
        end
      end
      on_choice(nil, nil)
    end
    vim.api.nvim_win_set_cursor(0, { 2, 2 })
    vim.cmd('LeanCompanionTry')
    vim.wait(90000, function() return line(1) ~= '  sorry' end, 50)
    out.line_after_action = line(1)
  end
  if out.status.result then
    vim.api.nvim_win_set_cursor(0, { 5, 2 })
    vim.cmd('LeanCompanionFillSorry')
    vim.wait(90000, function() return line(4) ~= '  sorry' end, 50)
    out.line_after_request = line(4)
  end
  if out.status.result then
    -- :LeanCompanionSuggest on the third sorry: the first (best) suggestion replaces it
    local offered = {}
    vim.ui.select = function(items, opts, on_choice)
      for _, item in ipairs(items) do
        table.insert(offered, { label = opts.format_item(item), verdict = item.verdict })
      end
      on_choice(items[1], 1)
    end
    vim.api.nvim_win_set_cursor(0, { 8, 2 })
    vim.cmd('LeanCompanionSuggest')
    vim.wait(60000, function() return line(7) ~= '  sorry' end, 50)
    out.suggestions_offered = offered
    out.line_after_suggest = line(7)
    out.premises = sync(client, '$/leanCompanion/premises', {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = 7, character = 2 }, k = 5,
    }, bufnr, 30000)
  end
  out.sorry_gone = vim.wait(20000, function()
    for _, d in ipairs(vim.diagnostic.get(bufnr)) do
      if d.message:match('sorry') then return false end
    end
    return true
  end, 50)
  out.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  out.diagnostics_after = diagnostics(bufnr)
end

local ok, problem = pcall(function()
  -- every message Neovim sends is logged (rpc.send) to lsp.log under XDG_CACHE/STATE_HOME
  if modern then
    vim.lsp.log.set_level('debug')
    out.lsp_log = vim.lsp.log.get_filename()
  else
    vim.lsp.set_log_level('debug')
    out.lsp_log = vim.lsp.get_log_path()
  end
  vim.opt.runtimepath:prepend(env('LC_PLUGIN_DIR'))
  local lc = require('lean_companion')
  local settings = os.getenv('LC_SETTINGS_JSON')
  local route = os.getenv('LC_ROUTE') or 'setup'
  out.route = route
  local options = {
    cmd = vim.fn.json_decode(env('LC_CMD_JSON')),
    keymaps = true,
    settings = settings and settings ~= '' and vim.fn.json_decode(settings) or nil,
  }
  if route == 'lsp_config' then
    -- lean.nvim's way: its `leanls` client, only the command changed; the module adds its
    -- commands, keymaps and settings on LspAttach
    options.autostart = false
    lc.setup(options)
    vim.lsp.config('leanls', {
      cmd = lc.lean_nvim_cmd(),
      filetypes = { 'lean' },
      root_markers = { 'lakefile.lean', 'lakefile.toml', 'lean-toolchain' },
    })
    vim.lsp.enable('leanls')
  else
    lc.setup(options)
  end
  out.nvim = tostring(vim.version().major) .. '.' .. tostring(vim.version().minor) .. '.' .. tostring(vim.version().patch)
  vim.cmd('edit ' .. vim.fn.fnameescape(env('LC_FILE')))
  local bufnr = vim.api.nvim_get_current_buf()
  out.filetype = vim.bo[bufnr].filetype
  out.attached = vim.wait(20000, function() return lc.client(bufnr) ~= nil end, 20)
  local client = lc.client(bufnr)
  assert(client, 'no lean-companion client attached')
  out.client_name = client.name
  out.keymap = vim.fn.maparg('<LocalLeader>cs', 'n') ~= ''
  if os.getenv('LC_EXPECT_DIAGNOSTICS') ~= '0' then
    out.first_diagnostics = vim.wait(20000, function() return #vim.diagnostic.get(bufnr) >= 2 end, 20)
  end
  out.diagnostics = diagnostics(bufnr)
  local scenario = env('LC_SCENARIO')
  if scenario == 'roundtrip' then
    roundtrip(lc, client, bufnr)
  elseif scenario == 'commands' then
    commands(lc, client, bufnr)
  elseif scenario == 'fill' then
    fill(lc, client, bufnr)
  else
    crash(lc, client, bufnr)
  end
  out.still_attached = lc.client(bufnr) ~= nil and not call(client, 'is_stopped')
  out.client_count = #all_clients()
  out.last_status = lc.last_status[client.id] or vim.NIL
  if os.getenv('LC_HEALTH') == '1' then
    vim.cmd('checkhealth lean_companion')
    out.health = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  end
end)
out.ok = ok
if not ok then
  out.problem = tostring(problem)
end
write_out()
vim.cmd('qa!')
