// Correspondence inspector: body of Gradio's js_on_load(element, trigger, props, server, upload, watch).
//
// The panel (demo/panels.py, inspector_panel) carries posegan's per-part affines, target -> source pixels, and its
// part masks as a PNG of bits. Hovering over the generated person evaluates, for every part whose mask covers the
// hovered pixel (the parts the skip's max takes there), its affine at that pixel, [xs, ys] = A [x, y, 1], and marks
// where that part reads it in the source photo. Nothing is sent to Python.
const NS = 'http://www.w3.org/2000/svg';
let panel = null;   // {root, data, bits, width, height}: the panel on the page, its masks decoded

async function load() {
  panel = null;
  const root = element.querySelector('.pg-inspector');
  if (!root) return;
  const image = new Image();
  image.src = root.dataset.masks;
  await image.decode();
  const canvas = document.createElement('canvas');
  [canvas.width, canvas.height] = [image.width, image.height];
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  const bits = Uint16Array.from({length: image.width * image.height},
                                (_, i) => pixels[4 * i] + 256 * pixels[4 * i + 1]);
  panel = {root, data: JSON.parse(root.dataset.inspector), bits, width: image.width, height: image.height};
  root.dataset.ready = '1';  // browser tests wait for this
}

function marker(x, y, className, colour) {
  const circle = document.createElementNS(NS, 'circle');
  circle.setAttribute('class', className);
  circle.setAttribute('cx', x);
  circle.setAttribute('cy', y);
  circle.setAttribute('r', 1.6);
  circle.setAttribute('fill', colour);
  return circle;
}

function show(x, y) {
  const {root, data, bits, width} = panel;
  const [target, source] = root.querySelectorAll('.pg-overlay');
  target.replaceChildren(marker(x, y, 'pg-cursor', 'none'));
  const reads = data.valid.filter((k) => bits[y * width + x] & (1 << k)).map((k) => {
    const [[a, b, c], [d, e, f]] = data.affines[k];
    return {k, x: a * x + b * y + c, y: d * x + e * y + f};
  });
  source.replaceChildren(...reads.map((read) => {
    const circle = marker(read.x, read.y, 'pg-read', data.colours[read.k]);
    Object.assign(circle.dataset, {part: read.k, x: read.x, y: read.y});
    return circle;
  }));
  const items = reads.map((read) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.style.background = data.colours[read.k];
    item.append(swatch, `${data.names[read.k]}: (${read.x.toFixed(1)}, ${read.y.toFixed(1)})`);
    return item;
  });
  const heading = document.createElement('li');
  heading.textContent = `Pixel (${x}, ${y}) of the result is read at:`;
  root.querySelector('.pg-read-list').replaceChildren(heading, ...items);
}

element.addEventListener('pointermove', (event) => {
  const overlay = event.target.closest('.pg-inspect-target')?.querySelector('.pg-overlay');
  if (!overlay || !panel) return;
  const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(overlay.getScreenCTM().inverse());
  const [x, y] = [Math.round(point.x), Math.round(point.y)];
  if (x >= 0 && y >= 0 && x < panel.width && y < panel.height) show(x, y);
});

watch('value', load);
load();
