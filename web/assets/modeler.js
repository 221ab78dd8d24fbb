// The process designer's page: bpmn-js Modeler with the properties panel extended for the
// motcua vocabulary, our bpmnlint rules, Vietnamese labels, and the server round trips
// (save a draft, check, deploy) whose problems are pointed at on the diagram.
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import 'bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css';

import Modeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import lintModule from 'bpmn-js-bpmnlint';

import keepUnrenderedDi from './modeler/keep-unrendered-di.js';
import lintConfig from './modeler/lint/config.js';
import motcuaModdle from './modeler/motcua-moddle.json';
import motcuaProperties from './modeler/properties/index.js';
import { showProblems, clearProblems } from './modeler/problems.js';
import translateVi from './modeler/translate-vi.js';

const config = JSON.parse(document.getElementById('mc-config').textContent);
const messages = config.messages;
const vietnamese = (document.documentElement.lang || 'vi').startsWith('vi');
const status = document.getElementById('mc-status');

const modeler = new Modeler({
  container: '#mc-canvas',
  propertiesPanel: { parent: '#mc-properties' },
  additionalModules: [
    BpmnPropertiesPanelModule,
    BpmnPropertiesProviderModule,
    motcuaProperties,
    keepUnrenderedDi,
    lintModule,
    ...(vietnamese ? [translateVi] : []),
  ],
  moddleExtensions: { motcua: motcuaModdle },
  linting: { bpmnlint: lintConfig, active: true },
  motcua: { vocabulary: config.vocabulary },
});

let draftId = config.draftId;
let revision = config.revision;
let dirty = false;

function say(text, kind = 'muted') {
  status.textContent = text;
  status.title = text;
  status.className = `small text-${kind}`;
}

// Files from other tools may declare another encoding (the MIWG files say ISO-8859-1): decode the bytes
// as declared, then tell bpmn-js the text is Unicode already.
function decode(buffer) {
  const head = new TextDecoder('windows-1252').decode(buffer.slice(0, 256));
  const declared = /^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']/.exec(head);
  try {
    return new TextDecoder(declared ? declared[1] : 'utf-8').decode(buffer);
  } catch (err) {
    return new TextDecoder('utf-8').decode(buffer);
  }
}

function asUnicode(xml) {
  return xml.replace(/^(\s*<\?xml[^>]*?encoding=["'])[^"']*(["'])/, '$1UTF-8$2');
}

async function load(xml) {
  clearProblems(modeler);
  const result = await modeler.importXML(asUnicode(xml));
  fit(modeler.get('canvas'));
  dirty = false;
  return result;
}

// Fit the diagram to the canvas, leaving the palette (top left) and the lint button (bottom) uncovered.
function fit(canvas) {
  canvas.zoom('fit-viewport', 'auto');
  const { inner, outer } = canvas.viewbox();
  if (!inner.width || !inner.height) return;
  const left = 140; // the palette, and the lint badge on the pool's corner
  const margin = 24;
  const right = 70; // the context pad opens to the right of a selected element
  const scale = Math.min(1, (outer.width - left - right) / inner.width, (outer.height - 2 * margin - 30) / inner.height);
  canvas.viewbox({
    x: inner.x - left / scale,
    y: inner.y - margin / scale,
    width: outer.width / scale,
    height: outer.height / scale,
  });
}

async function currentXml() {
  const { xml } = await modeler.saveXML({ format: true });
  return xml;
}

async function post(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': csrfToken() },
      body: JSON.stringify(body),
    });
  } catch (err) {
    return { ok: false, status: 0, data: { message: messages.networkError, problems: [] } };
  }
  let data = {};
  try { data = await response.json(); } catch (err) { data = { message: `HTTP ${response.status}`, problems: [] }; }
  return { ok: response.ok, status: response.status, data };
}

function csrfToken() {
  const input = document.getElementById('mc-csrf');
  return input ? input.value : '';
}

async function save() {
  say('…');
  const { ok, data } = await post(config.saveUrl, {
    xml: await currentXml(), draft_id: draftId, revision, base_version_id: config.baseVersionId, file_name: config.fileName,
  });
  if (!ok) {
    say(`${messages.saveFailed}: ${data.message}`, 'danger');
    showProblems(modeler, data.problems || [], [], { messages, title: `${messages.saveFailed}: ${data.message}` });
    return false;
  }
  const first = !draftId;
  draftId = data.draft_id;
  revision = data.revision;
  dirty = false;
  say(data.message, 'success');
  if (first && window.history.replaceState) window.history.replaceState(null, '', data.url);
  return true;
}

async function check() {
  say(messages.checking);
  const { ok, data } = await post(config.checkUrl, { xml: await currentXml(), file_name: config.fileName });
  if (!ok) {
    say(data.message, 'danger');
    return null;
  }
  showVerdict(data);
  return data;
}

function showVerdict(verdict) {
  const title = verdict.executable ? messages.valid : messages.invalid.replace('{count}', String(verdict.problems.length));
  showProblems(modeler, verdict.problems, verdict.warnings, { messages, title, ok: verdict.executable });
  say(verdict.executable ? messages.checkedOk : messages.checkedBad, verdict.executable ? 'success' : 'danger');
}

async function deploy() {
  const day = document.getElementById('mc-effective').value.trim();
  if (!day) {
    say(messages.noDate, 'danger');
    return;
  }
  say('…');
  const { ok, data } = await post(config.deployUrl, {
    xml: await currentXml(), effective_from: day, file_name: config.fileName, draft_id: draftId,
  });
  if (!ok) {
    const title = `${messages.deployFailed}: ${data.message}`;
    showProblems(modeler, data.problems || [], [], { messages, title });
    say(messages.deployFailed, 'danger');
    return;
  }
  clearProblems(modeler);
  draftId = null;
  revision = null;
  dirty = false;
  showProblems(modeler, [], [], { messages, title: data.message, ok: true, link: data.url });
  say(messages.deployed, 'success');
}

async function download() {
  const blob = new Blob([await currentXml()], { type: 'application/xml' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = config.fileName || 'procedure.bpmn';
  document.body.appendChild(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
}

modeler.on('commandStack.changed', () => {
  if (!dirty) say(messages.unsaved, 'warning');
  dirty = true;
});

document.getElementById('mc-save').addEventListener('click', save);
document.getElementById('mc-check').addEventListener('click', check);
document.getElementById('mc-deploy').addEventListener('click', deploy);
document.getElementById('mc-download').addEventListener('click', download);

// For the browser tests and the console: the modeler and the page's actions.
window.mcModeler = modeler;
window.mcDesigner = { load, currentXml, save, check, deploy, ready: null };

window.mcDesigner.ready = (async () => {
  try {
    const response = await fetch(config.sourceUrl, { credentials: 'same-origin' });
    const { warnings } = await load(decode(await response.arrayBuffer()));
    if (config.verdict) showVerdict(config.verdict);
    document.body.dataset.modelerReady = warnings.length ? 'warnings' : 'yes';
  } catch (err) {
    say(`${messages.importFailed}: ${err.message}`, 'danger');
    showProblems(modeler, [{ element_id: null, line: null, message: err.message }], [], { messages, title: messages.importFailed });
    document.body.dataset.modelerReady = 'error';
  }
})();
