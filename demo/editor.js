// Pose editor behaviour: body of Gradio's js_on_load(element, trigger, props, server, upload, watch).
//
// Everything here is local to the browser; the only thing sent to Python is the pose, once per finished gesture
// (pointer up, toolbar click, checkbox, key press): `props.value = pose` (Gradio's `change`, which also fires
// for values set by Python) and then the custom `edit` event, which only a person editing fires.
// The SVG is built here rather than in the template: the template is static, so Gradio's re-render after a
// value change finds it unchanged and leaves these nodes alone.
const [W, H] = props.frame;
const NS = 'http://www.w3.org/2000/svg';
const MISSING = [-1, -1];
const HISTORY_LIMIT = 200;
const HIT_RADIUS = 3.2;          // frame px around a joint that grab it (12.8 screen px at x4): room for a finger

const svg = element.querySelector('.pe-canvas');
const photo = element.querySelector('.pe-photo');
const limbLayer = element.querySelector('.pe-limbs');
const ghostLayer = element.querySelector('.pe-ghosts');   // under the joints: a ghost never hides a joint
const jointLayer = element.querySelector('.pe-joints');
const status = element.querySelector('.pe-status');
const checks = element.querySelector('.pe-checks');
const count = element.querySelector('.pe-count');
const presetMenu = element.querySelector('.pe-presets');
const undoButton = element.querySelector('[data-action="undo"]');
const redoButton = element.querySelector('[data-action="redo"]');

const copy = (pose) => pose.map((p) => [p[0], p[1]]);
const present = (p) => p[0] >= 0 && p[1] >= 0;
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const round = (v) => Math.round(v * 10) / 10;

let pose = copy(props.value);
let history = [copy(pose)];      // undo stack; history[cursor] is the current pose
let cursor = 0;
let lastSeen = copy(pose);       // where a hidden joint was, so that showing it again puts it back
let selected = null;
let drag = null;                 // {joint, pointerId, moved} while a joint is held

// ---------------------------------------------------------------------------------------------- build

const limbs = props.limbs.map(([a, b]) => {
  const line = document.createElementNS(NS, 'line');
  line.setAttribute('stroke', props.colours[b]);
  limbLayer.appendChild(line);
  return {a, b, line};
});

const joints = props.joint_names.map((name, j) => {
  const group = document.createElementNS(NS, 'g');
  group.setAttribute('class', 'pe-joint');
  group.dataset.joint = j;
  const hit = document.createElementNS(NS, 'circle');   // larger invisible target, for fingers
  hit.setAttribute('class', 'pe-hit');
  hit.setAttribute('r', HIT_RADIUS);
  const dot = document.createElementNS(NS, 'circle');
  dot.setAttribute('class', 'pe-dot');
  dot.setAttribute('r', 1.5);
  dot.setAttribute('fill', props.colours[j]);
  dot.style.color = props.colours[j];                    // a ghost's ring (currentColor in editor.css)
  const title = document.createElementNS(NS, 'title');   // joint name on hover
  group.append(hit, dot, title);
  jointLayer.appendChild(group);

  const label = document.createElement('label');
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.dataset.joint = j;
  const swatch = document.createElement('span');
  swatch.className = 'pe-swatch';
  swatch.style.background = props.colours[j];
  label.append(box, swatch, document.createTextNode(name));
  checks.appendChild(label);
  return {group, hit, dot, title, box, name};
});

for (const [index, preset] of props.presets.entries()) {
  const option = document.createElement('option');
  option.value = index;
  option.textContent = preset.name;
  presetMenu.appendChild(option);
}

// ---------------------------------------------------------------------------------------------- draw

// A hidden joint is drawn as a ghost ring where showing it would put it: drag it (or double-click it) to show
// it, without looking for it in the "Joints shown" list.
function draw() {
  joints.forEach((joint, j) => {
    const shown = present(pose[j]);
    const [x, y] = shownAt(j);
    joint.group.classList.toggle('pe-ghost', !shown);
    const layer = shown ? jointLayer : ghostLayer;
    if (joint.group.parentNode !== layer) layer.appendChild(joint.group);
    joint.box.checked = shown;
    for (const circle of [joint.hit, joint.dot]) {
      circle.setAttribute('cx', x);
      circle.setAttribute('cy', y);
    }
    joint.title.textContent = shown ? `${joint.name} (${round(x)}, ${round(y)})` : `${joint.name} (hidden: drag to show)`;
    joint.group.classList.toggle('pe-selected', j === selected);
  });
  for (const {a, b, line} of limbs) {
    const shown = present(pose[a]) && present(pose[b]);
    line.style.display = shown ? '' : 'none';
    if (shown) {
      line.setAttribute('x1', pose[a][0]);
      line.setAttribute('y1', pose[a][1]);
      line.setAttribute('x2', pose[b][0]);
      line.setAttribute('y2', pose[b][1]);
    }
  }
  count.textContent = pose.filter(present).length;
  undoButton.disabled = cursor === 0;
  redoButton.disabled = cursor === history.length - 1;
}

function drawPhoto() {
  if (props.background) {
    photo.setAttribute('href', props.background);
    photo.style.display = '';
  } else {
    photo.removeAttribute('href');
    photo.style.display = 'none';
  }
  photo.setAttribute('opacity', props.photo_opacity);
}

function say(text) {
  status.textContent = text;
}

// ---------------------------------------------------------------------------------------------- edits

// `pose` became the current pose: note where its joints are and push it on the undo stack.
function record() {
  pose.forEach((p, j) => { if (present(p)) lastSeen[j] = [p[0], p[1]]; });
  history = history.slice(0, cursor + 1);
  history.push(copy(pose));
  if (history.length > HISTORY_LIMIT) history.shift();
  cursor = history.length - 1;
}

function send() {
  props.value = copy(pose);
  trigger('edit');
}

// Record `next` as the current pose and send it to Python.
function commit(next, message) {
  if (same(next, pose) && same(next, props.value)) return;
  pose = copy(next);
  record();
  draw();
  send();
  if (message) say(message);
}

function travel(step) {
  const next = cursor + step;
  if (next < 0 || next >= history.length) return;
  cursor = next;
  pose = copy(history[cursor]);
  draw();
  send();
  say(step < 0 ? 'Undone' : 'Redone');
}

function mirrored(p) {
  // The person's left becomes their right: swap partner joints, reflect x about the frame centre.
  return props.flip.map((partner) => (present(p[partner]) ? [W - 1 - p[partner][0], p[partner][1]] : MISSING));
}

// Where a hidden joint comes back: where it was, else where the reset pose has it, else mirrored from its partner.
function restoreSpot(j) {
  const partner = pose[props.flip[j]];
  const fallback = present(partner) ? [W - 1 - partner[0], partner[1]] : [W / 2, H / 2];
  const spot = [lastSeen[j], props.reset_pose[j], fallback].find(present);
  return [spot[0], spot[1]];
}

// Where joint j is drawn: its position, or its ghost's.
function shownAt(j) {
  return present(pose[j]) ? pose[j] : restoreSpot(j);
}

function setVisible(j, visible) {
  const next = copy(pose);
  next[j] = visible ? restoreSpot(j) : MISSING;
  commit(next, `${joints[j].name} ${visible ? 'shown' : 'hidden'}`);
}

function framePoint(event) {
  const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return [round(Math.min(Math.max(point.x, 0), W - 1)), round(Math.min(Math.max(point.y, 0), H - 1))];
}

// The joint under the pointer, or null. While a joint is held the SVG captures the pointer, so the double-click
// that ends two clicks on a joint targets the SVG itself: then the nearest joint within reach is the one.
function jointAt(event) {
  const group = event.target.closest('.pe-joint');
  if (group) return Number(group.dataset.joint);
  const [x, y] = framePoint(event);
  const distance = (j) => Math.hypot(shownAt(j)[0] - x, shownAt(j)[1] - y);
  const nearest = joints.map((_, j) => j).sort((a, b) => distance(a) - distance(b))[0];
  return distance(nearest) <= HIT_RADIUS ? nearest : null;
}

// ---------------------------------------------------------------------------------------------- events

svg.addEventListener('pointerdown', (event) => {
  const group = event.target.closest('.pe-joint');
  if (!group || drag) return;
  event.preventDefault();
  svg.focus({preventScroll: true});
  selected = Number(group.dataset.joint);
  drag = {joint: selected, pointerId: event.pointerId, moved: false};
  svg.setPointerCapture(event.pointerId);
  svg.classList.add('pe-dragging');
  draw();
  say(joints[selected].name);
});

svg.addEventListener('pointermove', (event) => {
  if (!drag || event.pointerId !== drag.pointerId) return;
  pose[drag.joint] = framePoint(event);   // local only: Python hears about it on pointer up
  drag.moved = true;
  draw();
  say(`${joints[drag.joint].name}: x ${pose[drag.joint][0]}, y ${pose[drag.joint][1]}`);
});

function endDrag(event) {
  if (!drag || event.pointerId !== drag.pointerId) return;
  const {joint, moved} = drag;
  drag = null;
  svg.classList.remove('pe-dragging');
  if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
  if (moved) commit(pose, `${joints[joint].name} moved to x ${pose[joint][0]}, y ${pose[joint][1]}`);
}
svg.addEventListener('pointerup', endDrag);
svg.addEventListener('pointercancel', endDrag);

svg.addEventListener('dblclick', (event) => {
  const j = jointAt(event);
  if (j !== null) setVisible(j, !present(pose[j]));
});

svg.addEventListener('keydown', (event) => {
  const key = event.key.toLowerCase();
  const command = event.ctrlKey || event.metaKey;
  if (command && key === 'z') travel(event.shiftKey ? 1 : -1);
  else if (command && key === 'y') travel(1);
  else if (selected !== null && present(pose[selected]) && key.startsWith('arrow')) {
    const step = event.shiftKey ? 5 : 1;
    const [dx, dy] = {arrowleft: [-step, 0], arrowright: [step, 0], arrowup: [0, -step], arrowdown: [0, step]}[key];
    const next = copy(pose);
    next[selected] = [Math.min(Math.max(pose[selected][0] + dx, 0), W - 1),
                      Math.min(Math.max(pose[selected][1] + dy, 0), H - 1)];
    commit(next, `${joints[selected].name}: x ${next[selected][0]}, y ${next[selected][1]}`);
  } else if (selected !== null && (key === 'delete' || key === 'backspace')) setVisible(selected, false);
  else return;
  event.preventDefault();
});

element.querySelector('.pe-toolbar').addEventListener('click', (event) => {
  const action = event.target.closest('button')?.dataset.action;
  if (action === 'undo') travel(-1);
  else if (action === 'redo') travel(1);
  else if (action === 'mirror') commit(mirrored(pose), 'Mirrored left and right');
  else if (action === 'reset') commit(props.reset_pose, 'Reset to the detected pose');
});

presetMenu.addEventListener('change', () => {
  const preset = props.presets[Number(presetMenu.value)];
  presetMenu.value = '';
  if (preset) commit(preset.pose, `Preset: ${preset.name}`);
});

checks.addEventListener('change', (event) => {
  if (event.target.dataset.joint !== undefined) setVisible(Number(event.target.dataset.joint), event.target.checked);
});

// Python-side updates (new photo, imported JSON, reference pose). They win over a drag in progress.
watch('value', () => {
  if (same(props.value, pose)) return;
  drag = null;
  svg.classList.remove('pe-dragging');
  pose = copy(props.value);
  record();
  draw();
});
watch(['background', 'photo_opacity'], drawPhoto);

drawPhoto();
draw();
element.dataset.ready = '1';  // browser tests wait for this: the listeners above are attached
