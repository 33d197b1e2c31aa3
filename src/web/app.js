// The viewer: lists runs and their debates, starts debates, shows one debate live (or replays a finished one), and
// records verdict overrides; its Training view follows a training run's events, its Loop view a `tribunal loop`'s
// report.json (polled every 2 s while the view is open). Talks to `tribunal serve` over /v1/stream (WebSocket) and the
// /v1 JSON API.

import { api, TribunalClient } from './client.js';
import { DebateView } from './debate-view.js';
import { clear, h, untrusted, visibleControls } from './dom.js';
import { LoopView } from './loop-view.js';
import { TrainingView } from './training-view.js';

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
  /** 'debates', 'training' or 'loop'. */
  view: 'debates',
  /** The training run shown: { runDir, key } (key: the client's subscription while the Training view is open). */
  training: undefined,
  /** Training run directories the server listed last. */
  listedTrainingRuns: [],
  /** The loop shown: { loopDir, timer, chain, loaded } (timer: the next poll of its report while the Loop view is open). */
  loop: undefined,
};

const view = new DebateView();
const trainingView = new TrainingView();
const loopView = new LoopView({ openTraining: (runDir) => openTrainingRun(runDir) });

/** How often the Loop view asks for the report (the loop rewrites it at every stage change). */
const LOOP_POLL_MS = 2000;

/** The tabs, in order: [tab id, panel id, view name]. */
const VIEWS = [
  ['tab-debates', 'debates-view', 'debates'],
  ['tab-training', 'training-view', 'training'],
  ['tab-loop', 'loop-view', 'loop'],
];

/** Training run directories watched before, newest first (offered in the run directory field). */
const RECENT_TRAINING_RUNS = 'tribunal.trainingRuns';

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

/** The review-queue badge of an escalated debate (panel `escalate`): open until a human verdict answers it. */
function reviewBadge(review) {
  const probability = Number(review.consensusProbability).toFixed(2);
  const threshold = Number(review.threshold).toFixed(2);
  return h(
    'span',
    {
      class: `badge review ${review.answered ? 'answered' : 'open'}`,
      title: `The panel was unsure (consensus probability ${probability} < ${threshold}): ${review.answered ? 'a human answered it' : 'it awaits a human verdict'}.`,
    },
    review.answered ? 'reviewed' : 'review',
  );
}

async function loadDebates() {
  if (!state.run) return;
  const reviewOnly = $('review-only').checked ? '&review=1' : '';
  const body = await api(state.token, `/v1/debates?run=${encodeURIComponent(state.run)}&limit=200${reviewOnly}`);
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
        untrusted('span', {}, debate.itemId && debate.itemId !== debate.debateId ? debate.itemId : debate.debateId.slice(0, 8)),
        h('span', { class: 'muted small' }, ` ${status} · ${debate.events} events`),
        ...(debate.review ? [reviewBadge(debate.review)] : []),
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
  // Tests for a code panel (the server refuses an entry point without tests, naming the field).
  const tests = $('tests').value.trim() ? $('tests').value : undefined;
  const entryPoint = $('entry-point').value.trim() || undefined;
  const button = $('start-debate');
  button.disabled = true;
  try {
    if (state.current?.key) await state.client.unwatch(state.current.key);
    const ack = await state.client.startDebate(
      { prompt, candidates, ...(panel ? { panel } : {}), ...(tests ? { tests } : {}), ...(entryPoint ? { entryPoint } : {}) },
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
    errorEl.textContent = visibleControls(`Could not start the debate${error.code ? ` [${error.code}]` : ''}: ${error.message}`);
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
    // An answered review shows at once in the list.
    loadDebates().catch(() => {});
  } catch (error) {
    status.textContent = visibleControls(`Not saved [${error.code ?? 'ERROR'}]: ${error.message}`);
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
  // A read-only token may watch but not start, cancel or override: those controls are hidden.
  document.body.dataset.access = hello.access ?? 'operator';
}

async function showView(name) {
  if (state.view === name) return;
  state.view = name;
  sessionStorage.setItem('tribunal.view', name);
  for (const [tabId, panelId, viewName] of VIEWS) {
    const selected = viewName === name;
    $(tabId).setAttribute('aria-selected', String(selected));
    $(tabId).tabIndex = selected ? 0 : -1;
    $(panelId).hidden = !selected;
  }
  // Follow a training run only while its view is open; coming back resumes after the last line shown.
  if (name === 'training') loadTrainingRuns().catch(() => {});
  if (name === 'training' && state.training && state.training.key === undefined) await followTraining({ resume: true });
  if (name !== 'training') await unfollowTraining();
  // Poll a loop's report only while its view is open.
  if (name === 'loop') {
    loadLoopRuns().catch(() => {});
    if (state.loop) pollLoop(state.loop);
  } else if (state.loop) {
    clearTimeout(state.loop.timer);
    state.loop.timer = undefined;
  }
}

/** Subscribes to `state.training.runDir`: from its first event, or (`resume`) after the last line the view has. */
async function followTraining({ resume }) {
  const training = state.training;
  // Leaving and coming back while a subscription is on its way starts another: only the latest one is kept.
  const attempt = {};
  training.attempt = attempt;
  const errorEl = $('train-form-error');
  errorEl.hidden = true;
  if (!resume) trainingView.show(training.runDir);
  $('train-unwatch').disabled = false;
  try {
    const key = await state.client.watchTraining(
      training.runDir,
      {
        onTrainEvent: (event, line) => {
          if (state.training === training) trainingView.apply(event, line);
        },
        onAck: (ack) => {
          if (state.training === training) trainingView.acknowledged(ack);
        },
        onError: (frame) => {
          if (state.training === training) trainingView.subscriptionError(frame);
        },
      },
      { afterLine: resume ? trainingView.model.lastLine : 0 },
    );
    if (state.training !== training || state.view !== 'training' || training.attempt !== attempt) await state.client.unwatch(key);
    else training.key = key;
    rememberTrainingRun(training.runDir);
  } catch (error) {
    if (state.training !== training || training.attempt !== attempt) return;
    errorEl.hidden = false;
    errorEl.textContent = visibleControls(
      `Cannot watch ${training.runDir}${error.code ? ` [${error.code}]` : ''}: ${error.message}`,
    );
    if (!resume) {
      $('training').hidden = true;
      $('train-empty').hidden = false;
    }
    state.training = undefined;
    $('train-unwatch').disabled = true;
  }
}

async function unfollowTraining() {
  if (!state.training) return;
  const key = state.training.key;
  state.training.attempt = undefined;
  state.training.key = undefined;
  if (key !== undefined) await state.client.unwatch(key);
}

/** Shows and follows a training run directory from its first event (replacing the run shown). */
async function watchTrainingRun(runDir) {
  $('train-dir').value = runDir;
  await unfollowTraining();
  state.training = { runDir, key: undefined };
  sessionStorage.setItem('tribunal.trainingRun', runDir);
  markSelectedTrainingRun();
  await followTraining({ resume: false });
}

/** Lists the training runs the server finds under its runs/ folder (GET /v1/training-runs). */
async function loadTrainingRuns() {
  const body = await api(state.token, '/v1/training-runs');
  const list = $('train-runs');
  clear(list);
  if (body.runs.length === 0) list.append(h('li', { class: 'muted small empty' }, 'No training run under runs/ yet.'));
  for (const run of body.runs) {
    list.append(
      h(
        'li',
        { data: { runDir: run.runDir } },
        h(
          'button',
          { class: 'pick', attrs: { type: 'button' }, on: { click: () => watchTrainingRun(run.runDir) }, title: run.runDir },
          h('span', { class: `dot ${run.events ? 'done' : ''}` }),
          untrusted('span', { class: 'path' }, run.runDir),
          h(
            'span',
            { class: 'muted small' },
            ` ${run.events ? '' : 'no events yet · '}${new Date(run.updatedAt).toLocaleString()}`,
          ),
        ),
      ),
    );
  }
  markSelectedTrainingRun();
  showRecentTrainingRuns(body.runs.map((run) => run.runDir));
}

function markSelectedTrainingRun() {
  for (const item of $('train-runs').children) item.classList.toggle('selected', item.dataset.runDir === state.training?.runDir);
}

function recentTrainingRuns() {
  try {
    const parsed = JSON.parse(localStorage.getItem(RECENT_TRAINING_RUNS) ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((entry) => typeof entry === 'string') : [];
  } catch {
    return [];
  }
}

function rememberTrainingRun(runDir) {
  const recent = [runDir, ...recentTrainingRuns().filter((entry) => entry !== runDir)].slice(0, 10);
  localStorage.setItem(RECENT_TRAINING_RUNS, JSON.stringify(recent));
  showRecentTrainingRuns();
}

/** Offers the directories watched before, and those the server lists, in the run directory field. */
function showRecentTrainingRuns(listed = state.listedTrainingRuns) {
  state.listedTrainingRuns = listed;
  const list = $('train-dirs');
  clear(list);
  for (const runDir of new Set([...recentTrainingRuns(), ...listed])) list.append(h('option', { attrs: { value: runDir } }));
}

function setUpTrainingView() {
  $('tab-debates').addEventListener('click', () => showView('debates'));
  $('tab-training').addEventListener('click', () => showView('training'));
  // Arrow keys move between the tabs (the WAI-ARIA tabs pattern).
  $('tab-debates').parentElement.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowLeft' && event.key !== 'ArrowRight') return;
    const names = VIEWS.map(([, , name]) => name);
    const step = event.key === 'ArrowRight' ? 1 : names.length - 1;
    const next = names[(names.indexOf(state.view) + step) % names.length];
    showView(next);
    $(`tab-${next}`).focus();
  });
  $('train-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const runDir = $('train-dir').value.trim();
    if (runDir) watchTrainingRun(runDir);
  });
  $('train-unwatch').addEventListener('click', async () => {
    await unfollowTraining();
    state.training = undefined;
    sessionStorage.removeItem('tribunal.trainingRun');
    $('train-unwatch').disabled = true;
    markSelectedTrainingRun();
    trainingView.detached();
  });
  setInterval(() => {
    if (state.view === 'training') loadTrainingRuns().catch(() => {});
  }, 5000);
  showRecentTrainingRuns();
  // A reload keeps the view and the run being watched.
  const runDir = sessionStorage.getItem('tribunal.trainingRun');
  if (runDir) {
    $('train-dir').value = runDir;
    state.training = { runDir, key: undefined };
    trainingView.show(runDir);
  }
  if (sessionStorage.getItem('tribunal.view') === 'training') showView('training');
}

/** Opens a loop iteration's training run (`DIR/iter-<i>/train`) in the Training view. */
async function openTrainingRun(runDir) {
  await showView('training');
  await watchTrainingRun(runDir);
}

/** Asks for the loop's report now and again every LOOP_POLL_MS while it is shown and its view open. */
async function pollLoop(loop) {
  clearTimeout(loop.timer);
  loop.timer = undefined;
  // Leaving the view and coming back while a request is on its way starts another chain: only the latest goes on.
  const chain = {};
  loop.chain = chain;
  const errorEl = $('loop-form-error');
  try {
    const answer = await api(state.token, `/v1/loop-report?dir=${encodeURIComponent(loop.loopDir)}`);
    if (state.loop !== loop || loop.chain !== chain) return;
    loop.loaded = true;
    errorEl.hidden = true;
    loopView.update(answer);
  } catch (error) {
    if (state.loop !== loop || loop.chain !== chain) return;
    if (!loop.loaded) {
      // Never read: not a loop (or not one this server may open). Say so by the form, and stop asking.
      errorEl.hidden = false;
      errorEl.textContent = visibleControls(
        `Cannot watch ${loop.loopDir}${error.code ? ` [${error.code}]` : ''}: ${error.message}`,
      );
      unwatchLoop();
      return;
    }
    // Read before: the loop may be between two writes, or the file damaged; keep what is shown and keep asking.
    loopView.failed(error);
  }
  if (state.loop === loop && state.view === 'loop' && loop.chain === chain) {
    loop.timer = setTimeout(() => pollLoop(loop), LOOP_POLL_MS);
  }
}

/** Shows and polls a loop directory (replacing the loop shown). */
function watchLoop(loopDir) {
  $('loop-dir').value = loopDir;
  if (state.loop) clearTimeout(state.loop.timer);
  state.loop = { loopDir, timer: undefined, loaded: false };
  sessionStorage.setItem('tribunal.loop', loopDir);
  $('loop-form-error').hidden = true;
  $('loop-unwatch').disabled = false;
  loopView.show(loopDir);
  markSelectedLoop();
  if (state.view === 'loop') pollLoop(state.loop);
}

function unwatchLoop() {
  if (state.loop) clearTimeout(state.loop.timer);
  state.loop = undefined;
  sessionStorage.removeItem('tribunal.loop');
  $('loop-unwatch').disabled = true;
  loopView.hide();
  markSelectedLoop();
}

/** Lists the loop directories the server finds under its runs/ folder (GET /v1/loop-runs). */
async function loadLoopRuns() {
  const body = await api(state.token, '/v1/loop-runs');
  const list = $('loop-runs');
  clear(list);
  if (body.loops.length === 0) list.append(h('li', { class: 'muted small empty' }, 'No loop under runs/ yet.'));
  for (const loop of body.loops) {
    list.append(
      h(
        'li',
        { data: { loopDir: loop.loopDir } },
        h(
          'button',
          { class: 'pick', attrs: { type: 'button' }, on: { click: () => watchLoop(loop.loopDir) }, title: loop.loopDir },
          untrusted('span', { class: 'path' }, loop.loopDir),
          h('span', { class: 'muted small' }, ` ${new Date(loop.updatedAt).toLocaleString()}`),
        ),
      ),
    );
  }
  markSelectedLoop();
}

function markSelectedLoop() {
  for (const item of $('loop-runs').children) item.classList.toggle('selected', item.dataset.loopDir === state.loop?.loopDir);
}

function setUpLoopView() {
  $('tab-loop').addEventListener('click', () => showView('loop'));
  $('loop-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const loopDir = $('loop-dir').value.trim();
    if (loopDir) watchLoop(loopDir);
  });
  $('loop-unwatch').addEventListener('click', () => unwatchLoop());
  setInterval(() => {
    if (state.view === 'loop') loadLoopRuns().catch(() => {});
  }, 5000);
  // A reload keeps the loop being watched.
  const loopDir = sessionStorage.getItem('tribunal.loop');
  if (loopDir) watchLoop(loopDir);
  if (sessionStorage.getItem('tribunal.view') === 'loop') showView('loop');
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
  $('review-only').addEventListener('change', () => loadDebates().catch(() => {}));
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
  setUpTrainingView();
  setUpLoopView();
  loadRuns()
    .then((body) => selectRun(body.liveRunId))
    .catch((error) => setConnection('refused', error.message));
  setInterval(() => loadRuns().catch(() => {}), 5000);
}

main();
