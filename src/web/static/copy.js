// Copy buttons: <button data-copy="ID"> copies the value of the element with that id.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  for (const button of document.querySelectorAll('button[data-copy]')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.value ?? source.textContent);
        button.textContent = 'Copied';
      } catch {
        source.select?.();
        button.textContent = 'Press Ctrl+C to copy';
      }
    });
  }
});
