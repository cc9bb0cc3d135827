// What the two calculator pages share: their style (the theme's colours, so the dark theme works too)
// and how they print numbers. Only the calculator pages load it.

const STYLE = `
.calc { border: 1px solid var(--pst-color-border); border-radius: 0.4rem; padding: 0.8rem; margin: 1rem 0;
        background: var(--pst-color-surface); color: var(--pst-color-text-base); }
.calc fieldset { border: 0; margin: 0; padding: 0; display: grid; gap: 0.5rem 1rem;
                 grid-template-columns: repeat(auto-fit, minmax(13rem, 1fr)); }
.calc label { display: flex; flex-direction: column; font-size: 0.9rem; gap: 0.15rem; }
.calc input, .calc select { font: inherit; padding: 0.2rem 0.3rem; max-width: 100%; box-sizing: border-box;
                            color: var(--pst-color-text-base); background: var(--pst-color-background);
                            border: 1px solid var(--pst-color-border); border-radius: 0.25rem; }
.calc input:disabled { opacity: 0.6; }
.calc output, .calc .calc-out { display: block; margin-top: 0.8rem; }
.calc table { font-size: 0.9rem; }
.calc td, .calc th { padding: 0.15rem 0.5rem; text-align: right; }
.calc td:first-child, .calc th:first-child { text-align: left; }
.calc .calc-verdict { font-weight: bold; margin: 0.5rem 0; }
.calc .calc-swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em; vertical-align: -0.05em; }
.calc svg { width: 100%; height: auto; display: block; }
.calc svg text { fill: var(--pst-color-text-base); font-size: 13px; }
.calc svg .calc-capacity { stroke: var(--pst-color-text-base); stroke-width: 2; stroke-dasharray: 5 3; }
.calc .calc-format { border-top: 1px solid var(--pst-color-border); padding: 0.4rem 0; }
.calc .calc-format h3 { font-size: 1rem; margin: 0 0 0.2rem 0; }
.calc .calc-bits { font-family: var(--pst-font-family-monospace); font-size: 1rem; overflow-wrap: anywhere;
                   letter-spacing: 0.05em; }
.calc .calc-bits span { padding: 0 0.02em; border-radius: 0.15em; }
.calc .bit-sign { background: rgba(214, 39, 40, 0.3); }
.calc .bit-exponent { background: rgba(31, 119, 180, 0.3); }
.calc .bit-mantissa { background: rgba(44, 160, 44, 0.3); }
.calc .bit-sep { color: var(--pst-color-text-muted); }
.calc dl { margin: 0.2rem 0 0 0; display: grid; grid-template-columns: max-content 1fr; gap: 0 0.6rem; font-size: 0.9rem; }
.calc dd { margin: 0; overflow-wrap: anywhere; }
`;

/** Add the calculators' style to the page once. */
export function addStyle() {
  if (document.getElementById("calc-style")) return;
  const style = document.createElement("style");
  style.id = "calc-style";
  style.textContent = STYLE;
  document.head.append(style);
}

const GROUPED = new Intl.NumberFormat("en-US", {maximumFractionDigits: 1});

/** "16,000,000,000 bytes = 16.00 GB = 14.90 GiB": a GB is 10^9 bytes, a GiB 2^30 bytes. */
export function bytesText(bytes) {
  return `${GROUPED.format(bytes)} bytes = ${unitText(bytes / 1e9)} GB = ${unitText(bytes / 2 ** 30)} GiB`;
}

function unitText(value) {
  return value === 0 || value >= 0.01 ? value.toFixed(2) : value.toExponential(2);
}

/** A float for reading: JavaScript's shortest decimal that round-trips to the same float64. */
export function floatText(value) {
  if (Object.is(value, -0)) return "-0";
  return String(value);
}

/** An error (at least 0) for reading, to 4 significant digits. */
export function errorText(value) {
  if (Number.isNaN(value)) return "not defined";
  if (value === Infinity) return "infinite";
  if (value === 0) return "0";
  return value < 1e-3 || value >= 1e6 ? value.toExponential(3) : value.toPrecision(4);
}
