// The local page: the exercise list, and an exercise with its editor, Check, hints, drill clock
// and time-to-green plot. Every request carries the token (header; ?token= where a browser
// cannot set one). The file on disk is the truth: a save names the content it started from.
"use strict";
(function () {
  const { token, strings: S } = window.BPDRILL;
  const E = window.BpdrillEditor;
  const $ = (id) => document.getElementById(id);
  let current = null; // {name, base (hash the editor started from), dirty, saving, view, events, clock}

  async function api(method, path, body) {
    const init = { method, headers: { "X-Bpdrill-Token": token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = {};
    try { data = await response.json(); } catch (e) { /* an empty body */ }
    return { status: response.status, data };
  }

  function fmt(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
  }

  function fill() {
    document.querySelectorAll("[data-s]").forEach((el) => { el.textContent = S[el.dataset.s] || el.dataset.s; });
  }

  // ---- the list ---------------------------------------------------------------------------
  async function showList() {
    leave();
    $("exercise-view").hidden = true;
    const { data } = await api("GET", "/api/exercises");
    $("workspace").textContent = data.workspace;
    const head = ["exercise", "level", "status", "best score", "best time", "title"];
    document.querySelector("#exercises thead").innerHTML =
      "<tr>" + head.map((h) => `<th>${S[h]}</th>`).join("") + "</tr>";
    const body = document.querySelector("#exercises tbody");
    body.innerHTML = "";
    for (const row of data.exercises) {
      const tr = document.createElement("tr");
      tr.dataset.name = row.name;
      const cells = [row.name, "*".repeat(row.difficulty), S[row.progress],
        row.best_score ? `${row.best_score[0]}/${row.best_score[1]}` : "-",
        row.best_seconds != null ? fmt(row.best_seconds) : "-", row.title];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        if (i === 0) {
          const a = document.createElement("a");
          a.href = `#/${row.name}`;
          a.textContent = text;
          td.appendChild(a);
        } else {
          td.textContent = text;
        }
        if (i === 2) td.className = `progress-${row.progress}`;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
    $("list-view").hidden = false;
  }

  // ---- an exercise ------------------------------------------------------------------------
  async function showExercise(name) {
    leave();
    $("list-view").hidden = true;
    const { status, data } = await api("GET", `/api/exercises/${name}`);
    if (status !== 200) { location.hash = ""; return; }
    current = { name, base: data.hash, dirty: false, view: null, events: null, clock: null };
    $("title").textContent = `${data.title} (${name})`;
    $("task").textContent = data.task;
    $("report").innerHTML = "";
    $("hints").textContent = "";
    $("conflict").hidden = true;
    $("editor").innerHTML = "";
    current.view = E.create($("editor"), data.text, {
      onChange: () => { current.dirty = true; state(S.unsaved); },
      keys: { "Mod-Enter": check, "Mod-s": save },
    });
    window.bpdrillView = current.view; // for the browser test and the curious
    apply(data);
    state(S.saved);
    $("exercise-view").hidden = false;
    listen(name);
  }

  function apply(data) {
    $("mode").hidden = !data.interview;
    $("hint").disabled = !data.hints;
    setClock(data.clock);
    plot(data.drills || []);
  }

  function leave() {
    if (current && current.events) current.events.close();
    if (current && current.clock) clearInterval(current.clock);
    current = null;
  }

  function state(text) { $("state").textContent = text; }

  function setClock(clock) {
    if (current.clock) clearInterval(current.clock);
    current.clock = null;
    if (!clock) { $("clock").textContent = ""; return; }
    if (clock.solved) { $("clock").textContent = clock.line; return; }
    const start = Date.now() - clock.elapsed_seconds * 1000;
    const tick = () => {
      const elapsed = (Date.now() - start) / 1000;
      const left = clock.limit_seconds - elapsed;
      $("clock").textContent = left >= 0 ? `${fmt(elapsed)} / ${fmt(clock.limit_seconds)}`
        : `${fmt(elapsed)} (+${fmt(-left)})`;
      $("clock").style.color = left >= 0 ? "" : "#cf222e";
    };
    tick();
    current.clock = setInterval(tick, 1000);
  }

  // Another editor (or the terminal) saved the file: load it when nothing here is unsaved,
  // else say so and let the learner choose; nothing is overwritten unasked.
  function listen(name) {
    const source = new EventSource(`/api/exercises/${name}/events?token=${encodeURIComponent(token)}`);
    current.events = source;
    source.onmessage = async (event) => {
      const { hash } = JSON.parse(event.data);
      if (current && current.saving) await current.saving; // our own save: its answer names the new base
      if (!current || current.name !== name || hash === current.base) return;
      if (current.dirty) { $("conflict").hidden = false; return; }
      await reload(S.reloaded);
    };
  }

  async function reload(message) {
    const { data } = await api("GET", `/api/exercises/${current.name}`);
    E.replace(current.view, data.text);
    current.base = data.hash;
    current.dirty = false;
    $("conflict").hidden = true;
    apply(data);
    state(message);
  }

  function save(force) {
    if (!current) return Promise.resolve(false);
    const here = current;
    here.saving = write(force).finally(() => { here.saving = null; });
    return here.saving;
  }

  async function write(force) {
    const text = E.text(current.view);
    const { status, data } = await api("PUT", `/api/exercises/${current.name}/file`,
      { text, base: current.base, force: force === true });
    if (status === 409) { $("conflict").hidden = false; return false; }
    if (status !== 200) { state(data.error || S.error); return false; }
    current.base = data.hash;
    if (E.text(current.view) === text) current.dirty = false;
    $("conflict").hidden = true;
    state(S.saved);
    return true;
  }

  async function check() {
    if (!current) return;
    if (current.dirty && !(await save())) return;
    state(S.checking);
    $("check").disabled = true;
    try {
      const { status, data } = await api("POST", `/api/exercises/${current.name}/check`);
      if (status !== 200) { state(data.error || S.error); return; }
      $("report").innerHTML = data.html;
      const exercise = data.report.exercises[0];
      state(`${exercise.score}/${exercise.max_score}`);
      const marks = data.marks; // each diagnosis at its line, as the report says it
      E.mark(current.view, marks);
      $("editor").dataset.diagnosisLines = [...new Set(marks.map((m) => m.line))].join(" ");
      if (data.clock) setClock(data.clock);
      const fresh = await api("GET", `/api/exercises/${current.name}`);
      if (fresh.status === 200) plot(fresh.data.drills || []);
    } finally {
      $("check").disabled = false;
    }
  }

  async function hint() {
    const { data } = await api("POST", `/api/exercises/${current.name}/hint`);
    $("hints").textContent = data.error || `${data.heading}\n${data.text}`;
  }

  async function startDrill(interview) {
    if (current.dirty && !(await save())) return;
    if (!confirm(S["confirm drill"])) return;
    const { status, data } = await api("POST", `/api/exercises/${current.name}/drill`, { interview });
    if (status !== 200) { state(data.error || S.error); return; }
    $("report").innerHTML = "";
    $("hints").textContent = "";
    await reload(data.kept ? `${S.saved}: ${data.kept}` : S.saved);
  }

  // Time to green of each solved drill, in order, against its limit: a small SVG.
  function plot(drills) {
    const solved = drills.filter((d) => d.green_seconds != null);
    const box = $("plot");
    if (!solved.length) { box.textContent = S["no history"]; return; }
    const w = 360, h = 160, pad = 30;
    const top = Math.max(...solved.map((d) => Math.max(d.green_seconds, d.limit_seconds))) * 1.1;
    const x = (i) => pad + (solved.length === 1 ? (w - 2 * pad) / 2 : i * (w - 2 * pad) / (solved.length - 1));
    const y = (s) => h - pad + 10 - (s / top) * (h - pad);
    const points = solved.map((d, i) => `${x(i).toFixed(1)},${y(d.green_seconds).toFixed(1)}`).join(" ");
    const dots = solved.map((d, i) =>
      `<circle cx="${x(i).toFixed(1)}" cy="${y(d.green_seconds).toFixed(1)}" r="3.5" fill="${d.interview ? "#8250df" : "#0969da"}"><title>${fmt(d.green_seconds)}</title></circle>`).join("");
    const limit = solved[solved.length - 1].limit_seconds;
    box.innerHTML = `<svg width="${w}" height="${h}" role="img">
      <line x1="${pad}" x2="${w - pad}" y1="${y(limit)}" y2="${y(limit)}" stroke="#cf222e" stroke-dasharray="4"/>
      <text x="${w - pad}" y="${y(limit) - 3}" font-size="10" text-anchor="end" fill="#cf222e">${S.limit} ${fmt(limit)}</text>
      <polyline fill="none" stroke="#0969da" points="${points}"/>${dots}
      <text x="4" y="12" font-size="10">${fmt(top / 1.1)}</text><text x="4" y="${h - 4}" font-size="10">0:00</text></svg>`;
  }

  function route() {
    const match = location.hash.match(/^#\/(\w+)$/);
    if (match) showExercise(match[1]); else showList();
  }

  fill();
  $("check").onclick = check;
  $("save").onclick = () => save();
  $("hint").onclick = hint;
  $("drill").onclick = () => startDrill(false);
  $("interview").onclick = () => startDrill(true);
  $("load").onclick = () => reload(S.reloaded);
  $("keep").onclick = () => save(true);
  window.addEventListener("hashchange", route);
  route();
})();
