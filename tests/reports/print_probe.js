// Applies the report's print rules (its @media print block) as screen
// rules, then measures what a printout would get at the window's size (run
// at A4 width): the filters hidden, each variant starting a page, the lane
// headers not sticky, nothing wider than the page, a race's three
// requests still side by side. Writes the result to
// <body data-print="{…}"> for html_render.sh (chromium --dump-dom).
(function () {
  var r = {rules: 0};
  var css = '';
  Array.prototype.forEach.call(document.styleSheets, function (sheet) {
    Array.prototype.forEach.call(sheet.cssRules, function (rule) {
      if (rule.media && Array.prototype.indexOf.call(rule.media, 'print') >= 0) {
        Array.prototype.forEach.call(rule.cssRules, function (inner) { css += inner.cssText; r.rules++; });
      }
    });
  });
  var style = document.createElement('style');
  style.textContent = css;
  document.head.appendChild(style);
  var vw = document.documentElement.clientWidth;
  var filters = document.querySelector('.filters');
  r.filters_hidden = !!filters && getComputedStyle(filters).display === 'none';
  var sections = document.querySelectorAll('section.variant');
  r.page_per_variant = sections.length > 1 && Array.prototype.every.call(sections, function (s) {
    return getComputedStyle(s).breakBefore === 'page';
  });
  var hd = document.querySelector('.hd');
  r.heads_static = !!hd && getComputedStyle(hd).position === 'static';
  r.fits = document.documentElement.scrollWidth <= vw + 1;
  var par = document.querySelector('.par .cols');
  var cs = par ? Array.prototype.map.call(par.children, function (e) { return e.getBoundingClientRect(); }) : [];
  r.side_by_side = cs.length === 3 && cs.every(function (b, i) {
    return i === 0 || (b.left >= cs[i - 1].right - 1 && Math.abs(b.top - cs[0].top) < 2 && b.right <= vw + 1);
  });
  document.body.setAttribute('data-print', JSON.stringify(r));
})();
