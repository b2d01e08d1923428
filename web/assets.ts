/**
 * The page's style sheet and its one small script, served from memory as /app.css and /app.js
 * (the Content-Security-Policy allows scripts and styles from the box itself only, never inline).
 * Made for a phone first: one column, cards that widen to a grid on a larger screen.
 */
export const CSS = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #c62828; --warn: #b26a00; --muted: #6b7280; --line: #d0d7de; --card: #fff; --bg: #f4f6f8; --fg: #1f2328; }
@media (prefers-color-scheme: dark) { :root { --card: #161b22; --bg: #0d1117; --fg: #e6edf3; --line: #30363d; --muted: #8b949e; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between; padding: .75rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1rem; margin: 0; }
header form { display: inline; }
main { padding: .75rem; max-width: 1200px; margin: 0 auto; }
.grid { display: grid; gap: .75rem; grid-template-columns: 1fr; }
@media (min-width: 760px) { .grid { grid-template-columns: repeat(2, 1fr); } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; min-width: 0; }
.card h2 { font-size: 1rem; margin: 0 0 .5rem; display: flex; justify-content: space-between; gap: .5rem; align-items: baseline; }
.summary { font-weight: 600; padding: .6rem 1rem; border-radius: 8px; margin-bottom: .75rem; color: #fff; }
.summary.all-recording { background: var(--ok); } .summary.not-recording { background: var(--bad); }
.summary small { font-weight: 400; opacity: .9; }
.state { font-size: .8rem; font-weight: 700; padding: .1rem .5rem; border-radius: 999px; color: #fff; white-space: nowrap; }
.state.recording { background: var(--ok); } .state.down, .state.stopped { background: var(--bad); } .state.starting { background: var(--warn); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .75rem; margin: 0 0 .5rem; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
.bad { color: var(--bad); } .ok { color: var(--ok); } .warn { color: var(--warn); } .muted { color: var(--muted); }
svg { width: 100%; height: auto; display: block; }
.plot-label { font-size: .8rem; color: var(--muted); margin: .35rem 0 .1rem; }
table { width: 100%; border-collapse: collapse; font-size: .9rem; }
td, th { text-align: left; padding: .25rem .4rem; border-bottom: 1px solid var(--line); vertical-align: top; }
button, input { font: inherit; }
button { padding: .45rem .9rem; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; }
button.primary { background: #0969da; color: #fff; border-color: #0969da; }
.snap { display: flex; gap: .4rem; flex-wrap: wrap; margin-top: .5rem; }
.snap input { flex: 1 1 10rem; min-width: 0; padding: .4rem; border: 1px solid var(--line); border-radius: 6px; background: var(--card); color: var(--fg); }
.login { max-width: 360px; margin: 12vh auto; }
.login label { display: block; margin: .6rem 0 .2rem; }
.login input { width: 100%; padding: .55rem; border: 1px solid var(--line); border-radius: 6px; background: var(--card); color: var(--fg); }
.login button { width: 100%; margin-top: 1rem; }
.error { color: var(--bad); font-weight: 600; }
img.snapshot { max-width: 100%; height: auto; border-radius: 6px; }
footer { color: var(--muted); font-size: .8rem; padding: 1rem; text-align: center; }
`;

/** Reloads the overview in place every few seconds; a lost session goes back to the login page. */
export const JS = `
(function () {
  var box = document.getElementById('overview');
  if (!box) return;
  var every = Number(box.getAttribute('data-refresh-s')) * 1000 || 10000;
  /** each text field of the overview's forms, with a key that finds it again after a refresh */
  function eachField(fn) {
    box.querySelectorAll('form input[type=text], form input:not([type])').forEach(function (i) {
      fn(i, (i.form && i.form.getAttribute('action')) + ' ' + i.name);
    });
  }
  function tick() {
    fetch('/overview', { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (r.status === 401) { location.href = '/login'; return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      var typing = document.activeElement && document.activeElement.tagName === 'INPUT' && box.contains(document.activeElement);
      if (html === null || html === undefined || typing) return;
      // what a manager typed (a snapshot's reason) outlives the refresh, focused or not
      var kept = {};
      eachField(function (i, key) { if (i.value) kept[key] = i.value; });
      box.innerHTML = html;
      eachField(function (i, key) { if (kept[key]) i.value = kept[key]; });
    }).catch(function () { /* the box is unreachable: keep what is shown, try again */ })
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
`;
