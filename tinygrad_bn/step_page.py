"""step_page: every step of a backward pass on ONE self-contained HTML page.

The page holds each step's text and diagram (the SVG itself, inline), a Previous and a Next button,
and the arrow keys (Home and End jump to the first and last step). Diagrams keep their natural size
(a wide graph scrolls inside its frame; "Fit to width" shows all of it) and each step centers its
marked node. Nothing is loaded from anywhere:
no network, no external script or style, so a teacher can open the file directly or put it on a
course page. Without JavaScript every step is shown, one after the other.

Each step is a `<section class="step" data-node="n13">`: data-node is the diagram id of the node
whose gradient is final at that step (the box drawn with a red border).
"""
from __future__ import annotations

import html
import re

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 0 1.5rem 2rem; color: #222; }
header { position: sticky; top: 0; background: white; padding: 0.6rem 0; border-bottom: 1px solid #ccc; z-index: 1; }
h1 { font-size: 1.3rem; margin: 0.2rem 0; }
p.help { margin: 0.2rem 0 0.5rem; color: #555; font-size: 0.9rem; }
nav button { font-size: 1rem; padding: 0.3rem 0.9rem; }
#counter { display: inline-block; min-width: 9rem; text-align: center; font-weight: bold; }
section.step { margin-top: 1rem; }
section.step pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.9rem; }
.diagram { overflow: auto; max-height: 65vh; border: 1px solid #ddd; }
body.fit .diagram svg { max-width: 100%; height: auto; }
"""

_SCRIPT = """
"use strict";
(function () {
  var steps = Array.prototype.slice.call(document.querySelectorAll("section.step"));
  var prev = document.getElementById("prev");
  var next = document.getElementById("next");
  var counter = document.getElementById("counter");
  var current = 0;
  function show(index) {
    current = Math.max(0, Math.min(steps.length - 1, index));
    steps.forEach(function (section, k) { section.hidden = k !== current; });
    counter.textContent = "step " + (current + 1) + " of " + steps.length;
    prev.disabled = current === 0;
    next.disabled = current === steps.length - 1;
    center(steps[current]);
  }
  function center(section) {  // scroll the diagram (not the page) so the marked node is in the middle
    var frame = section.querySelector(".diagram"), box = marked(section);
    if (!frame || !box) { return; }
    var b = box.getBoundingClientRect(), f = frame.getBoundingClientRect();
    frame.scrollLeft += (b.left + b.width / 2) - (f.left + f.width / 2);
    frame.scrollTop += (b.top + b.height / 2) - (f.top + f.height / 2);
  }
  function marked(section) {  // the <g> of the node whose gradient is final at this step
    var titles = section.querySelectorAll("g.node > title");
    for (var i = 0; i < titles.length; i++) {
      if (titles[i].textContent === section.dataset.node) { return titles[i].parentNode; }
    }
    return null;
  }
  prev.addEventListener("click", function () { show(current - 1); });
  next.addEventListener("click", function () { show(current + 1); });
  document.addEventListener("keydown", function (event) {
    var moves = { ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: steps.length - 1 };
    if (event.key in moves) {
      show(moves[event.key]);
      event.preventDefault();
    }
  });
  document.getElementById("fit").addEventListener("click", function () {
    var fit = document.body.classList.toggle("fit");
    this.textContent = fit ? "Actual size" : "Fit to width";
    center(steps[current]);
  });
  document.getElementById("nav").hidden = false;
  show(0);
})();
"""


def step_page(title: str, views) -> str:
    """The page for a list of StepViews (stepper.py), each with its diagram's SVG text."""
    if not views:
        raise ValueError("step_page: there are no steps to show")
    sections = "\n".join(_section(view) for view in views)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{html.escape(title)}</h1>
<p class="help">Each step is one node of the backward pass, in the order <code>backward()</code> visits them.
Red border: the node whose gradient is final at this step. Orange: the path from it to the loss, where its
gradient came from. A node not reached yet shows grad 0 (a Value) or no grad (a Tensor).
Keys: &larr; &rarr; (Home, End).</p>
<nav id="nav" hidden>
<button id="prev" type="button">&larr; Previous</button>
<span id="counter" aria-live="polite"></span>
<button id="next" type="button">Next &rarr;</button>
<button id="fit" type="button">Fit to width</button>
</nav>
</header>
<main>
{sections}
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def _section(view) -> str:
    return (f'<section class="step" id="step-{view.number}" data-node="{view.node_id}">\n'
            f"<pre>{html.escape(view.text)}</pre>\n"
            f'<div class="diagram">{_inline_svg(view.svg, f"s{view.number}-")}</div>\n'
            f"</section>")


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_ID = re.compile(r'\bid="')


def _inline_svg(svg: str, prefix: str) -> str:
    """An SVG document as an element for the page: no XML prolog or DOCTYPE, and its ids prefixed
    so that the many diagrams on one page do not share ids."""
    return _ID.sub(f'id="{prefix}', _PROLOG.sub("", svg, count=1))
