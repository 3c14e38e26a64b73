// Pose editor behaviour: body of Gradio's js_on_load(element, trigger, props, server, upload, watch).
//
// Everything here is local to the browser; the only thing sent to Python is the pose, once per finished gesture
// (pointer up, toolbar or thumbnail click, checkbox, key press): `props.value = pose` (Gradio's `change`, which also fires
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
const gallery = element.querySelector('.pe-gallery');
const undoButton = element.querySelector('[data-action="undo"]');
const redoButton = element.querySelector('[data-action="redo"]');

const copy = (pose) => pose.map((p) => [p[0], p[1]]);
const present = (p) => p[0] >= 0 && p[1] >= 0;
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const round = (v, per = 10) => Math.round(v * per) / per;   // to 0.1 px by default
const inside = (p) => p[0] >= 0 && p[0] <= W - 1 && p[1] >= 0 && p[1] <= H - 1;

let pose = copy(props.value);
let history = [copy(pose)];      // undo stack; history[cursor] is the current pose
let cursor = 0;
let lastSeen = copy(pose);       // where a hidden joint was, so that showing it again puts it back
let selected = null;
let drag = null;                 // {joint, pointerId, moved, turn} while a joint or a limb is held

// The skeleton as a tree: limb [a, b] hangs joint b from its parent a; the neck is the root.
const children = props.joint_names.map(() => []);
const parent = [];
for (const [a, b] of props.limbs) {
  children[a].push(b);
  parent[b] = a;
}
const below = (j) => [j, ...children[j].flatMap(below)];   // j and every joint hanging from it

// ---------------------------------------------------------------------------------------------- build

const limbs = props.limbs.map(([a, b]) => {
  const line = document.createElementNS(NS, 'line');
  line.setAttribute('stroke', props.colours[b]);
  const hit = document.createElementNS(NS, 'line');        // wider invisible target for Shift-drag
  hit.setAttribute('class', 'pe-limb-hit');
  hit.dataset.joint = b;
  const title = document.createElementNS(NS, 'title');
  title.textContent = `Shift-drag: turn about the ${props.joint_names[a]}`;
  hit.appendChild(title);
  limbLayer.append(line, hit);
  return {a, b, lines: [line, hit]};
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

// One thumbnail per preset: its skeleton, drawn once.
for (const [index, preset] of props.presets.entries()) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'pe-thumb';
  button.dataset.preset = index;
  button.title = preset.name;
  button.setAttribute('aria-label', `Preset: ${preset.name}`);
  const thumb = document.createElementNS(NS, 'svg');
  thumb.setAttribute('viewBox', `-0.5 -0.5 ${W} ${H}`);
  for (const [a, b] of props.limbs) {
    if (!present(preset.pose[a]) || !present(preset.pose[b])) continue;
    const line = document.createElementNS(NS, 'line');
    [[a, 'x1', 'y1'], [b, 'x2', 'y2']].forEach(([j, x, y]) => {
      line.setAttribute(x, preset.pose[j][0]);
      line.setAttribute(y, preset.pose[j][1]);
    });
    line.setAttribute('stroke', props.colours[b]);
    thumb.appendChild(line);
  }
  button.appendChild(thumb);
  gallery.appendChild(button);
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
  for (const {a, b, lines} of limbs) {
    const shown = present(pose[a]) && present(pose[b]);
    for (const line of lines) {
      line.style.display = shown ? '' : 'none';
      if (shown) {
        line.setAttribute('x1', pose[a][0]);
        line.setAttribute('y1', pose[a][1]);
        line.setAttribute('x2', pose[b][0]);
        line.setAttribute('y2', pose[b][1]);
      }
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

// The pointer in frame coordinates, unclamped (an angle may be taken outside the frame).
function pointerAt(event) {
  const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return [point.x, point.y];
}

function framePoint(event) {
  const [x, y] = pointerAt(event);
  return [round(Math.min(Math.max(x, 0), W - 1)), round(Math.min(Math.max(y, 0), H - 1))];
}

// Shift on a limb, or on a joint whose parent is shown: turn that limb about its parent joint. The limb's joint
// and everything hanging from it turn together, rigidly, so every limb keeps its length.
function turnAt(event) {
  const target = event.target.closest('.pe-limb-hit, .pe-joint');
  const j = target && Number(target.dataset.joint);
  if (!event.shiftKey || !target || parent[j] === undefined || !present(pose[j]) || !present(pose[parent[j]])) {
    return null;
  }
  const pivot = pose[parent[j]];
  const [x, y] = pointerAt(event);
  const carried = below(j).filter((k) => present(pose[k]));
  return {pivot, start: Math.atan2(y - pivot[1], x - pivot[0]), carried, from: carried.map((k) => pose[k])};
}

// Apply a turn to the pointer's angle about the pivot; a turn that would take a joint out of the frame stops at
// the last one that did not (clamping would change limb lengths).
function applyTurn(turn, event) {
  const [px, py] = turn.pivot;
  const [x, y] = pointerAt(event);
  const angle = Math.atan2(y - py, x - px) - turn.start;
  const [c, s] = [Math.cos(angle), Math.sin(angle)];
  const moved = turn.from.map(([fx, fy]) => [round(px + c * (fx - px) - s * (fy - py), 100),
                                             round(py + s * (fx - px) + c * (fy - py), 100)]);
  if (!moved.every(inside)) return;
  turn.carried.forEach((k, i) => { pose[k] = moved[i]; });
  turn.degrees = Math.round(((angle * 180 / Math.PI) + 540) % 360 - 180);
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
  const turn = turnAt(event);
  if ((!group && !turn) || drag) return;
  event.preventDefault();
  svg.focus({preventScroll: true});
  selected = turn ? turn.carried[0] : Number(group.dataset.joint);
  drag = {joint: selected, pointerId: event.pointerId, moved: false, turn};
  svg.setPointerCapture(event.pointerId);
  svg.classList.add('pe-dragging');
  draw();
  say(joints[selected].name);
});

svg.addEventListener('pointermove', (event) => {
  if (!drag || event.pointerId !== drag.pointerId) return;
  if (drag.turn) applyTurn(drag.turn, event);  // local only: Python hears about it on pointer up
  else pose[drag.joint] = framePoint(event);
  drag.moved = true;
  draw();
  say(dragged());
});

function dragged() {
  const {joint, turn} = drag;
  if (turn) return `${joints[joint].name}: turned ${turn.degrees ?? 0}° about the ${joints[parent[joint]].name}`;
  return `${joints[joint].name}: x ${pose[joint][0]}, y ${pose[joint][1]}`;
}

function endDrag(event) {
  if (!drag || event.pointerId !== drag.pointerId) return;
  const message = dragged();
  const {moved} = drag;
  drag = null;
  svg.classList.remove('pe-dragging');
  if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
  if (moved) commit(pose, message);
}
svg.addEventListener('pointerup', endDrag);
svg.addEventListener('pointercancel', endDrag);

svg.addEventListener('dblclick', (event) => {
  const j = jointAt(event);
  if (j !== null) setVisible(j, !present(pose[j]));
});

// Drawing-program keys, anywhere in the editor but its checkboxes: Ctrl+Z undo, Ctrl+Shift+Z or Ctrl+Y redo,
// arrows nudge the selected joint (Shift: 5 px), Delete, Backspace or H hide it.
element.addEventListener('keydown', (event) => {
  if (event.target.closest('input, select, textarea')) return;
  const key = event.key.toLowerCase();
  const command = event.ctrlKey || event.metaKey;
  if (command && key === 'z') travel(event.shiftKey ? 1 : -1);
  else if (command && key === 'y') travel(1);
  else if (command || event.altKey) return;
  else if (selected !== null && present(pose[selected]) && key.startsWith('arrow')) {
    const step = event.shiftKey ? 5 : 1;
    const [dx, dy] = {arrowleft: [-step, 0], arrowright: [step, 0], arrowup: [0, -step], arrowdown: [0, step]}[key];
    const next = copy(pose);
    next[selected] = [Math.min(Math.max(pose[selected][0] + dx, 0), W - 1),
                      Math.min(Math.max(pose[selected][1] + dy, 0), H - 1)];
    commit(next, `${joints[selected].name}: x ${next[selected][0]}, y ${next[selected][1]}`);
  } else if (selected !== null && ['delete', 'backspace', 'h'].includes(key)) setVisible(selected, false);
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

gallery.addEventListener('click', (event) => {
  const preset = props.presets[event.target.closest('.pe-thumb')?.dataset.preset];
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
