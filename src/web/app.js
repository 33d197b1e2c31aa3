// The viewer: lists runs and their debates, starts debates, shows one debate live (or replays a finished one), and
// records verdict overrides. Talks to `tribunal serve` over /v1/stream (WebSocket) and the /v1 JSON API.

import { api, TribunalClient } from './client.js';
import { DebateView } from './debate-view.js';
import { clear, h } from './dom.js';

const $ = (id) => document.getElementById(id);

const state = {
  token: undefined,
  client: undefined,
  liveRunId: 'live',
  runs: [],
  /** The run whose debates are listed: its reference (run id, or directory). */
  run: undefined,
  /** The debate shown: { run, debateId, live, key }. */
  current: undefined,
  pollTimer: undefined,
};

const view = new DebateView();

function readToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  const fromQuery = new URLSearchParams(location.search).get('token');
  const token = fromHash ?? fromQuery ?? sessionStorage.getItem('tribunal.token') ?? undefined;
  if (fromHash || fromQuery) {
    sessionStorage.setItem('tribunal.token', token);
    // Keep the token out of the address bar, bookmarks and screenshots.
    history.replaceState(null, '', location.pathname);
  }
  return token;
}

function setConnection(stateName, detail) {
  const element = $('connection');
  element.dataset.state = stateName;
  element.textContent =
    { connecting: 'connecting…', open: 'connected', closed: 'reconnecting…', refused: 'refused' }[stateName] ?? stateName;
  element.title = detail ?? '';
}

async function loadRuns(options = {}) {
  const query = options.dir ? `?dir=${encodeURIComponent(options.dir)}` : '';
  const body = await api(state.token, `/v1/runs${query}`);
  state.liveRunId = body.liveRunId;
  state.runs = body.runs;
  const list = $('runs');
  clear(list);
  for (const run of body.runs) {
    const reference = run.runId;
    const item = h(
      'li',
      {
        class: state.run === reference ? 'selected' : '',
        data: { run: run.runId },
        on: { click: () => selectRun(reference) },
        title: run.dir,
      },
      h('strong', {}, run.live ? 'Live debates' : run.runId.slice(0, 12)),
      h(
        'span',
        { class: 'muted small' },
        ` ${run.live ? 'started here' : run.panelId} · ${run.totals.done}/${run.totals.items} done · ${run.status}`,
      ),
    );
    list.append(item);
  }
  return body;
}

async function selectRun(reference) {
  state.run = reference;
  for (const item of $('runs').children) item.classList.toggle('selected', item.dataset.run === reference);
  await loadDebates();
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(() => loadDebates().catch(() => {}), 2000);
}

async function loadDebates() {
  if (!state.run) return;
  const body = await api(state.token, `/v1/debates?run=${encodeURIComponent(state.run)}&limit=200`);
  if (body.runId !== state.run) {
    // A directory resolves to its latest run: list and highlight it by id from now on.
    state.run = body.runId;
    for (const item of $('runs').children) item.classList.toggle('selected', item.dataset.run === body.runId);
  }
  const list = $('debates');
  clear(list);
  const debates = body.debates.slice().reverse();
  for (const debate of debates) {
    const status = debate.running ? 'running' : debate.status;
    list.append(
      h(
        'li',
        {
          class: state.current?.debateId === debate.debateId ? 'selected' : '',
          data: { debate: debate.debateId, status },
          on: { click: () => openDebate({ run: body.runId, debateId: debate.debateId, live: body.live }) },
          title: debate.debateId,
        },
        h('span', { class: `dot ${status}` }),
        h('span', {}, debate.itemId && debate.itemId !== debate.debateId ? debate.itemId : debate.debateId.slice(0, 8)),
        h('span', { class: 'muted small' }, ` ${status} · ${debate.events} events`),
      ),
    );
  }
  if ($('follow').checked) {
    const newest = debates.find((debate) => debate.running);
    if (newest && newest.debateId !== state.current?.debateId)
      openDebate({ run: body.runId, debateId: newest.debateId, live: body.live });
  }
}

async function openDebate(target) {
  if (state.current?.key) await state.client.unwatch(state.current.key);
  state.current = { ...target, key: undefined };
  for (const item of $('debates').children) item.classList.toggle('selected', item.dataset.debate === target.debateId);
  view.show(target);
  state.current.key = await state.client.watchDebate(target, handlersFor(target));
  await showStoredOverride(target);
}

function handlersFor(target) {
  return {
    onEvent: (event) => {
      if (state.current?.debateId === target.debateId) view.apply(event);
      refreshListsAtEnd(event);
    },
    onError: (frame) => {
      if (state.current?.debateId === target.debateId) view.setStatus(`error: ${frame.code}`);
    },
  };
}

/** A debate that ends changes the lists' statuses and totals: refresh them now rather than at the next poll. */
function refreshListsAtEnd(event) {
  if (event.type !== 'debate-end' && event.type !== 'debate-error') return;
  setTimeout(() => {
    loadDebates().catch(() => {});
    loadRuns().catch(() => {});
  }, 300);
}

async function showStoredOverride(target) {
  try {
    const body = await api(
      state.token,
      `/v1/overrides?run=${encodeURIComponent(target.run)}&debateId=${encodeURIComponent(target.debateId)}`,
    );
    view.showOverride(body.overrides[body.overrides.length - 1]);
  } catch {
    // no overrides to show
  }
}

async function startDebate(event) {
  event.preventDefault();
  const errorEl = $('start-error');
  errorEl.hidden = true;
  const prompt = $('prompt').value.trim();
  const candidates = [...document.querySelectorAll('.candidate-input')].map((input) => input.value.trim()).filter(Boolean);
  const panel = $('panel').value || undefined;
  const button = $('start-debate');
  button.disabled = true;
  try {
    if (state.current?.key) await state.client.unwatch(state.current.key);
    const ack = await state.client.startDebate(
      { prompt, candidates, ...(panel ? { panel } : {}) },
      {
        onEvent: (debateEvent) => {
          if (state.current?.debateId === debateEvent.debateId) view.apply(debateEvent);
          refreshListsAtEnd(debateEvent);
        },
        onError: (frame) => view.setStatus(`error: ${frame.code}`),
      },
    );
    const target = { run: ack.runId, debateId: ack.debateId, live: true };
    state.current = { ...target, key: `${ack.runId}/${ack.debateId}` };
    view.show(target);
    if (state.run !== ack.runId) await selectRun(ack.runId);
    else await loadDebates();
  } catch (error) {
    errorEl.hidden = false;
    errorEl.textContent = `Could not start the debate${error.code ? ` [${error.code}]` : ''}: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

async function onOverrideClick(event) {
  const button = event.target.closest('button');
  if (!button || !state.current) return;
  const kind = button.dataset.prefer ? 'prefer' : 'wrong';
  const note = $('override-note').value.trim();
  const status = $('override-status');
  status.dataset.saved = 'false';
  status.textContent = 'Saving…';
  try {
    const ack = await state.client.override({
      run: state.current.run,
      debateId: state.current.debateId,
      kind,
      candidateId: button.dataset.prefer,
      note,
    });
    view.showOverride(ack.override);
  } catch (error) {
    status.textContent = `Not saved [${error.code ?? 'ERROR'}]: ${error.message}`;
  }
}

function onHello(hello) {
  state.liveRunId = hello.liveRunId;
  const select = $('panel');
  const chosen = select.value;
  clear(select);
  for (const name of hello.panels)
    select.append(h('option', { attrs: { value: name } }, name === hello.defaults.panel ? `${name} (default)` : name));
  if (chosen) select.value = chosen;
  $('model').textContent = `model: ${hello.defaults.model}`;
}

function main() {
  state.token = readToken();
  if (!state.token) {
    $('token-needed').hidden = false;
    setConnection('refused', 'no token');
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      sessionStorage.setItem('tribunal.token', $('token-input').value.trim());
      location.reload();
    });
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  state.client = new TribunalClient({
    url: `${scheme}://${location.host}/v1/stream`,
    token: state.token,
    onStatus: setConnection,
    onHello,
  });
  $('new-debate').addEventListener('submit', startDebate);
  $('add-candidate').addEventListener('click', () => {
    const count = document.querySelectorAll('.candidate-input').length;
    $('candidate-inputs').append(
      h('textarea', { class: 'candidate-input', attrs: { rows: 2, placeholder: `candidate c${count + 1}` } }),
    );
  });
  $('override-buttons').addEventListener('click', onOverrideClick);
  $('replay').addEventListener('click', () => view.replay());
  $('cancel').addEventListener('click', () => {
    if (state.current) state.client.cancel(state.current).catch((error) => view.setStatus(`error: ${error.code}`));
  });
  $('watch-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const dir = $('watch-dir').value.trim();
    if (!dir) return;
    try {
      await loadRuns({ dir });
      await selectRun(dir);
    } catch (error) {
      $('watch-dir').setCustomValidity(error.message);
      $('watch-dir').reportValidity();
      $('watch-dir').setCustomValidity('');
    }
  });
  loadRuns()
    .then((body) => selectRun(body.liveRunId))
    .catch((error) => setConnection('refused', error.message));
  setInterval(() => loadRuns().catch(() => {}), 5000);
}

main();
