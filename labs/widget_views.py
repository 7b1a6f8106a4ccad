"""The ipywidgets of labs.widgets: the live dashboard and the etcd browser.

Imported only where there is a widget front end (labs.widgets decides), so the rest of the
toolkit loads without ipywidgets. What the widgets show comes from their callers: the
dashboard gets a function that reads the cluster, the browser an etcd client.

Output from button callbacks goes to the widget's own `Output` (wrapped with
`Output.capture()`); background threads (auto refresh, etcd watches) never enter an Output
context, they only set widget values or call `append_stderr`.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Callable

import etcd
import ipywidgets as w

from labs.etcd_tree import EtcdEntry, etcd_entries, etcd_text, shorten


class Poller:
    """A daemon thread calling `step()` until stopped (stop() is called when a widget closes)."""

    def __init__(self, step, on_error):
        self.step, self.on_error = step, on_error
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="labs-widget")
        self.thread.start()

    def _loop(self):
        while not self.stopped.is_set():
            try:
                self.step(self.stopped)
            except Exception as error:      # shown in the widget, the thread goes on
                self.on_error(error)
                self.stopped.wait(2)

    def stop(self):
        self.stopped.set()


class LiveBox(w.VBox):
    """ipywidgets' VBox plus what the live widgets share: their poller stops when the widget
    closes, and their text/plain view is real text (nbval runs headless and compares it)."""

    poller = None

    def plain_text(self) -> str:
        raise NotImplementedError

    def close(self):
        if self.poller:
            self.poller.stop()
        super().close()

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.plain_text()
        return bundle


class Dashboard(LiveBox):
    """A table read by `read()` -> (text, html); a refresh button and optional auto refresh."""

    def __init__(self, read: Callable[[], tuple[str, str]], auto_refresh: float | None = None):
        self.read = read
        self.table = w.HTML("<i>reading the cluster …</i>")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.auto = w.Checkbox(value=bool(auto_refresh), description="auto refresh", indent=False)
        self.interval = w.BoundedFloatText(value=auto_refresh or 5.0, min=1, max=3600,
                                           description="every (s)", layout=w.Layout(width="160px"))
        self.output = w.Output()
        self.text = ""
        self.poller = None
        super().__init__([w.HBox([self.refresh_button, self.auto, self.interval]),
                          self.table, self.output])
        self.refresh_button.on_click(self.output.capture()(lambda _: self.refresh()))
        self.auto.observe(self.output.capture()(lambda change: self._auto(change["new"])), "value")
        self.refresh()
        self._auto(self.auto.value)

    def refresh(self):
        self.text, self.table.value = self.read()

    def _auto(self, on):
        if self.poller:
            self.poller.stop()
            self.poller = None
        if on:
            def step(stopped):
                if not stopped.wait(max(self.interval.value, 1)):
                    self.refresh()
            self.poller = Poller(step, lambda e: self.output.append_stderr(f"refresh failed: {e}\n"))

    def plain_text(self) -> str:
        return self.text


class EtcdBrowser(LiveBox):
    """etcd's keys under a root: a tree, the selected key's details, live refresh (a watch)."""

    def __init__(self, client, root: str = "/", live: bool = True):
        self.client = client
        self.root = w.Text(value=root, description="root", continuous_update=False,
                           layout=w.Layout(width="320px"))
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.live = w.Checkbox(value=live, description="live", indent=False)
        self.tree = w.Select(options=[], rows=16, layout=w.Layout(width="420px"))
        self.detail = w.HTML()
        self.status = w.HTML()
        self.output = w.Output()
        self.entries: list[EtcdEntry] = []
        self.index = 0
        self.poller = None
        super().__init__([w.HBox([self.root, self.refresh_button, self.live]),
                          w.HBox([self.tree, self.detail]), self.status, self.output])
        capture = self.output.capture()
        self.refresh_button.on_click(capture(lambda _: self.refresh()))
        self.root.observe(capture(lambda _: self.refresh()), "value")
        self.tree.observe(capture(lambda change: self.show(change["new"])), "value")
        self.live.observe(capture(lambda change: self._live(change["new"])), "value")
        self.refresh()
        self._live(live)

    def refresh(self):
        self.entries, self.index = etcd_entries(self.client, self.root.value or "/")
        labels = []
        for i, e in enumerate(self.entries):
            name = e.key if e.depth == 0 else e.key.rsplit("/", 1)[-1]
            label = ("  " * e.depth) + (f"▸ {name}/" if e.dir else f"{name} = {shorten(e.value, 30)}")
            labels.append((label + (f"  ⏱{e.ttl}s" if e.ttl else ""), i))
        selected = self.tree.value
        self.tree.options = labels
        if selected is not None and selected < len(labels):
            self.tree.value = selected
        self.status.value = (f"<span style='color:#777;font-size:small'>{len(self.entries)} "
                             f"entries via {html.escape(self.client.member)}, etcd index "
                             f"{self.index}, {time.strftime('%H:%M:%S')}</span>")
        if not self.entries:
            self.detail.value = f"<i>{html.escape(self.root.value)}: no such key</i>"

    def show(self, i):
        if i is None or i >= len(self.entries):
            return
        e = self.entries[i]
        rows = [["key", html.escape(e.key)], ["type", "directory" if e.dir else "key"]]
        if e.dir:
            rows.append(["children", str(e.children)])
        else:
            rows.append(["value", f"<pre style='margin:0'>{html.escape(e.value or '')}</pre>"])
        rows.append(["TTL", f"{e.ttl} s (when read)" if e.ttl else "none"])
        rows.append(["modifiedIndex", str(e.modified)])
        self.detail.value = "".join(f"<div><b>{k}</b>: {v}</div>" for k, v in rows)

    def _live(self, on):
        if self.poller:
            self.poller.stop()
            self.poller = None
        if not on:
            return

        def step(stopped):
            try:       # wait (at most 5 s) for anything to change under root, then re-read
                self.client.watch(self.root.value or "/", index=self.index + 1, recursive=True,
                                  timeout=5)
            except etcd.EtcdWatchTimedOut:
                return
            except etcd.EtcdEventIndexCleared:
                pass
            except etcd.EtcdKeyNotFound:
                stopped.wait(2)
            if not stopped.is_set():
                self.refresh()

        self.poller = Poller(step, lambda e: self.output.append_stderr(f"live refresh: {e}\n"))

    def plain_text(self) -> str:
        return etcd_text(self.entries, self.root.value)
