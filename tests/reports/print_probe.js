// Applies the report's print rules (its @media print block) as screen
// rules, then measures what a printout would get at the window's size (run
// at A4 width): the filters hidden, each variant starting a page, the lane
// headers not sticky, nothing wider than the page. Writes the result to
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
  document.body.setAttribute('data-print', JSON.stringify(r));
})();
