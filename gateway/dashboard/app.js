// The live dashboard: sign in over REST, then GraphQL queries over HTTP and subscriptions over a
// minimal graphql-transport-ws client (no third-party code, so the page works offline).

const API = '/api/v1';
const MAX_ROWS = 200;
const STATS = ['total', 'skipped', 'queued', 'sending', 'sent', 'delivered', 'read', 'undelivered', 'failed', 'cancelled'];
const $ = (selector) => document.querySelector(selector);

// Signed-in state survives a reload of this tab only.
const session = {
  load() { return JSON.parse(sessionStorage.getItem('weconn.session') || 'null'); },
  save(value) { sessionStorage.setItem('weconn.session', JSON.stringify(value)); },
  clear() { sessionStorage.removeItem('weconn.session'); },
};
let auth = session.load(); // {email, access, refresh, tenant}
let refreshing = null;

async function restPost(path, body) {
  const response = await fetch(API + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error?.message || `HTTP ${response.status}`);
  return answer.data;
}

// A refresh token is single use: concurrent callers share one rotation.
function refreshTokens() {
  refreshing ??= restPost('/auth/refresh', { refresh_token: auth.refresh })
    .then((tokens) => {
      Object.assign(auth, { access: tokens.access_token, refresh: tokens.refresh_token });
      session.save(auth);
      return true;
    })
    .catch(() => false)
    .finally(() => { refreshing = null; });
  return refreshing;
}

async function graphql(query, variables = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json;q=0.9',
        Authorization: `Bearer ${auth.access}`,
        'X-Tenant-Id': auth.tenant,
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    const errors = body.errors || [];
    const expired = errors.some((error) => error.extensions?.code === 'unauthenticated');
    if (expired && attempt === 0 && (await refreshTokens())) continue;
    if (errors.length) throw new Error(errors.map((error) => error.message).join('; '));
    return body.data;
  }
}

// graphql-transport-ws: connection_init -> connection_ack, then subscribe / next / error /
// complete per operation id, ping answered by pong. Reconnects and resubscribes on its own.
class LiveSocket {
  constructor(onState) {
    this.onState = onState;
    this.operations = new Map(); // id -> {query, variables(), sink}
    this.nextId = 1;
    this.retryDelay = 500;
    this.closed = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/graphql`, 'graphql-transport-ws');
    this.socket = socket;
    this.acknowledged = false;
    this.onState('connecting');
    socket.onopen = () => {
      const payload = { Authorization: `Bearer ${auth.access}`, 'X-Tenant-Id': auth.tenant };
      socket.send(JSON.stringify({ type: 'connection_init', payload }));
    };
    socket.onmessage = (message) => this.receive(JSON.parse(message.data));
    socket.onclose = (event) => this.closedBy(event, socket);
  }

  receive(message) {
    if (this.closed) return; // a late message of a socket left behind (another tenant's)
    const operation = this.operations.get(message.id);
    switch (message.type) {
      case 'connection_ack':
        this.acknowledged = true;
        this.retryDelay = 500;
        for (const id of this.operations.keys()) this.sendSubscribe(id);
        this.onState('live');
        break;
      case 'ping':
        this.socket.send(JSON.stringify({ type: 'pong' }));
        break;
      case 'next':
        operation?.sink.next(message.payload);
        break;
      case 'error':
        this.operations.delete(message.id);
        operation?.sink.error(message.payload);
        break;
      case 'complete':
        this.operations.delete(message.id);
        operation?.sink.complete?.();
        break;
      default:
        break;
    }
  }

  async closedBy(event, socket) {
    if (this.closed || socket !== this.socket) return;
    this.onState('offline');
    // 4403: the credentials were refused (an expired access token, most likely).
    if (event.code === 4403 && !(await refreshTokens())) {
      signOut('Your session has ended; sign in again.');
      return;
    }
    setTimeout(() => this.closed || this.connect(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, 10000);
  }

  sendSubscribe(id) {
    const { query, variables } = this.operations.get(id);
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables: variables() } }));
  }

  // `variables` is a function, read again on each resubscription (a stream resumes from a cursor).
  subscribe(query, variables, sink) {
    const id = String(this.nextId++);
    this.operations.set(id, { query, variables, sink });
    if (this.acknowledged) this.sendSubscribe(id);
    return () => {
      if (this.operations.delete(id) && this.acknowledged) {
        this.socket.send(JSON.stringify({ id, type: 'complete' }));
      }
    };
  }

  close() {
    this.closed = true;
    this.socket.close(1000, 'Normal Closure');
  }
}

let live = null;
let stopCampaign = null;
let generation = 0; // bumped on each (re)start, so a late answer for the previous tenant is dropped

function setConnection(state) {
  const badge = $('#connection');
  badge.dataset.state = state;
  badge.textContent = state;
}

function addEventRow(event) {
  const body = $('#events tbody');
  if (body.querySelector(`tr[data-cursor="${CSS.escape(event.cursor)}"]`)) return;
  const row = document.createElement('tr');
  row.className = 'fresh';
  Object.assign(row.dataset, { cursor: event.cursor, messageId: event.messageId, status: event.status });
  const time = new Date(event.occurredAt);
  const cells = [`#${event.messageId}`, event.channel, event.status, time.toLocaleTimeString()];
  for (const text of cells) row.insertCell().textContent = text;
  const status = document.createElement('span');
  status.className = 'badge';
  status.dataset.status = event.status;
  status.textContent = event.status;
  row.cells[2].replaceChildren(status);
  row.cells[3].title = time.toISOString();
  body.prepend(row);
  while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
  $('#no-events').hidden = true;
}

function watchEvents() {
  let after = null; // the last cursor seen: a resubscription replays what the gap missed
  const query = `subscription Events($after: String) {
    deliveryEvents(after: $after) { cursor messageId channel status occurredAt }
  }`;
  live.subscribe(query, () => ({ after }), {
    next: ({ data, errors }) => {
      if (errors) console.warn('deliveryEvents', errors);
      if (!data) return;
      after = data.deliveryEvents.cursor;
      addEventRow(data.deliveryEvents);
    },
    error: (errors) => console.warn('deliveryEvents', errors),
  });
}

function showCampaign(campaign) {
  $('#campaign-view').hidden = false;
  $('#campaign-name').textContent = campaign.name;
  const badge = $('#campaign-status');
  badge.dataset.status = campaign.status;
  badge.textContent = campaign.status;
  $('#campaign-bar').style.width = `${campaign.progress}%`;
  $('#campaign-progress').textContent = campaign.progress.toFixed(1);
  $('#campaign-rate').textContent = campaign.deliveryRate.toFixed(1);
  const option = $('#campaign').querySelector(`option[value="${campaign.id}"]`);
  if (option) option.textContent = `#${campaign.id} ${campaign.name} (${campaign.status})`;
  $('#campaign-stats').replaceChildren(...STATS.map((name) => {
    const item = document.createElement('div');
    item.dataset.stat = name;
    item.append(Object.assign(document.createElement('dt'), { textContent: name }));
    item.append(Object.assign(document.createElement('dd'), { textContent: campaign.stats[name] }));
    return item;
  }));
}

function watchCampaign(id) {
  stopCampaign?.();
  stopCampaign = null;
  $('#campaign-view').hidden = true;
  $('#campaign-error').textContent = '';
  if (!id) return;
  const query = `subscription Progress($id: Int!) {
    campaignProgress(id: $id) { id name status progress deliveryRate stats { ${STATS.join(' ')} } }
  }`;
  stopCampaign = live.subscribe(query, () => ({ id: Number(id) }), {
    next: ({ data, errors }) => {
      if (data) showCampaign(data.campaignProgress);
      else $('#campaign-error').textContent = errors.map((error) => error.message).join('; ');
    },
    error: (errors) => { $('#campaign-error').textContent = errors.map((error) => error.message).join('; '); },
  });
}

async function loadCampaigns() {
  const select = $('#campaign');
  const chosen = select.value;
  const asked = generation;
  try {
    const data = await graphql('{ campaigns(perPage: 100) { items { id name status } } }');
    if (asked !== generation) return;
    const options = data.campaigns.items.map(({ id, name, status }) => new Option(`#${id} ${name} (${status})`, id));
    select.replaceChildren(new Option('Choose a campaign', ''), ...options);
    select.value = options.some((option) => option.value === chosen) ? chosen : '';
  } catch (error) {
    $('#campaign-error').textContent = error.message;
  }
}

async function sendTestMessage() {
  const button = $('#send-test');
  button.disabled = true;
  try {
    const data = await graphql(`mutation Test($input: SendMessageInput!) {
      sendMessage(input: $input) { id status }
    }`, { input: { channel: 'sms', to: '+40740111222', body: 'dashboard test' } });
    const sent = data.sendMessage;
    $('#send-result').textContent = `Test message #${sent.id} accepted (${sent.status}).`;
    $('#send-result').dataset.messageId = sent.id;
  } catch (error) {
    $('#send-result').textContent = `Could not send: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

// A user's tenants: the memberships `me` lists, as seen from the tenant they signed in with.
async function loadTenants() {
  const data = await graphql('{ me { tenant { id } memberships { role tenant { id slug name } } } }');
  const select = $('#tenant');
  select.replaceChildren(...data.me.memberships.map(({ role, tenant }) => (
    new Option(`${tenant.name} (${tenant.slug}) · ${role}`, tenant.id)
  )));
  select.value = String(data.me.tenant.id);
  auth.tenant = String(data.me.tenant.id);
  session.save(auth);
}

function startLive() {
  generation += 1;
  live?.close();
  $('#events tbody').replaceChildren();
  $('#no-events').hidden = false;
  $('#send-result').textContent = '';
  live = new LiveSocket(setConnection);
  watchEvents();
  watchCampaign('');
  loadCampaigns();
}

async function enter() {
  await loadTenants();
  $('#user').textContent = auth.email;
  $('#sign-in-panel').hidden = true;
  $('#session').hidden = false;
  $('#live').hidden = false;
  startLive();
}

function signOut(message = '') {
  live?.close();
  live = null;
  auth = null;
  session.clear();
  $('#session').hidden = true;
  $('#live').hidden = true;
  $('#sign-in-panel').hidden = false;
  $('#sign-in-error').textContent = message;
}

$('#sign-in').addEventListener('submit', async (submitted) => {
  submitted.preventDefault();
  const form = new FormData(submitted.target);
  $('#sign-in-error').textContent = '';
  try {
    const tokens = await restPost('/auth/login', { email: form.get('email'), password: form.get('password') });
    // The tenant typed in, else the first the user belongs to (login lists them).
    const tenant = form.get('tenant').trim() || String(tokens.tenants[0]?.id ?? '');
    if (!tenant) throw new Error('this user belongs to no tenant');
    auth = { email: form.get('email'), access: tokens.access_token, refresh: tokens.refresh_token, tenant };
    session.save(auth);
    await enter();
  } catch (error) {
    signOut(error.message);
  }
});
$('#tenant').addEventListener('change', (changed) => {
  auth.tenant = changed.target.value;
  session.save(auth);
  startLive();
});
$('#sign-out').addEventListener('click', () => signOut());
$('#send-test').addEventListener('click', sendTestMessage);
$('#campaign').addEventListener('change', (changed) => watchCampaign(changed.target.value));
$('#reload-campaigns').addEventListener('click', loadCampaigns);

if (auth) enter().catch((error) => signOut(error.message));
