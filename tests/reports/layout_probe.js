// Measures the HTML report's layout in the browser and writes the result to
// <body data-layout="{…}"> for html_render.sh (chromium --dump-dom).
(function () {
  var r = {};
  var vw = document.documentElement.clientWidth;
  r.overflow = document.documentElement.scrollWidth > vw + 1;
  var sec = document.querySelector('section.variant[data-verdict=fail]');
  var hd = sec ? Array.prototype.map.call(sec.querySelectorAll('.hd'),
                                          function (e) { return e.getBoundingClientRect(); }) : [];
  r.lanes = hd.length;
  r.ordered = hd.length > 0 && hd.every(function (b, i) { return i === 0 || b.left >= hd[i - 1].right - 1; });
  r.one_row = hd.every(function (b) { return Math.abs(b.top - hd[0].top) < 2; });
  var fail = sec && sec.querySelector('.fail');
  r.fail_visible = !!fail && fail.getBoundingClientRect().height > 0;
  var arrows = document.querySelectorAll('.arr');
  r.arrows = arrows.length;
  r.arrows_inside = Array.prototype.every.call(arrows, function (a) {
    var b = a.getBoundingClientRect();
    return b.width > 10 && b.left >= 0 && b.right <= vw + 1;
  });
  var par = document.querySelector('.par .cols');
  if (par) {
    var cs = Array.prototype.map.call(par.children, function (e) { return e.getBoundingClientRect(); });
    r.side_by_side = cs.length === 3 && cs.every(function (b, i) {
      return i === 0 || (b.left >= cs[i - 1].right - 1 && Math.abs(b.top - cs[0].top) < 2);
    });
  }
  /* The filters: "failed" hides every passing variant and row, a tag
     shows only the variants that carry it, "all" shows everything again. */
  var visible = function (sel) {
    return Array.prototype.filter.call(document.querySelectorAll(sel),
                                       function (e) { return e.offsetParent !== null; }).length;
  };
  var all = visible('section.variant');
  show('fail');
  r.filter_fail = visible('section.variant[data-verdict=pass]') === 0 &&
      visible('tr[data-verdict=pass]') === 0 && visible('section.variant[data-verdict=fail]') > 0;
  show('all');
  var tag = document.getElementById('tag');
  tag.value = 'selftest';
  tag.onchange();
  r.filter_tag = visible('section.variant') === 2; /* report.json's two */
  tag.value = '';
  show('all');
  r.filter_all = visible('section.variant') === all && all > 1;
  document.body.setAttribute('data-layout', JSON.stringify(r));
})();
