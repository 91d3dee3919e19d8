// Search results quote the page text, where MathJax has not run: "\(dh\)" would show
// as written. Typeset each summary as it arrives; a formula cut by the summary's edge
// is dropped rather than shown half.
(() => {
  const tidy = (summary) => {
    let text = summary.textContent;
    const firstClose = text.indexOf("\\)");
    const firstOpen = text.indexOf("\\(");
    if (firstClose >= 0 && (firstOpen < 0 || firstClose < firstOpen)) text = "…" + text.slice(firstClose + 2);
    const lastOpen = text.lastIndexOf("\\(");
    if (lastOpen >= 0 && text.indexOf("\\)", lastOpen) < 0) text = text.slice(0, lastOpen) + "…";
    summary.textContent = text;
    if (window.MathJax && MathJax.typesetPromise) MathJax.typesetPromise([summary]);
  };
  const watch = () => {
    const results = document.getElementById("search-results");
    if (!results) return;
    new MutationObserver((changes) => {
      for (const change of changes) {
        for (const node of change.addedNodes) {
          if (node.nodeType !== 1) continue;
          const summaries = node.matches("p.context") ? [node] : node.querySelectorAll("p.context");
          summaries.forEach(tidy);
        }
      }
    }).observe(results, {childList: true, subtree: true});
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
})();
