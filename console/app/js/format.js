// Formatting numbers, dates and ages for people (UTC everywhere, as the API).

const numberFormat = new Intl.NumberFormat("en-US");

/** 12345 → "12,345"; null → "—". */
export function num(value) {
  return value === null || value === undefined ? "—" : numberFormat.format(value);
}

/** An RFC 3339 time → "2026-11-29 14:03 UTC". */
export function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Seconds → "3 d 4 h", "12 min", "40 s". */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** "2026-11-29" → "Nov 29". */
export function shortDate(isoDate) {
  const date = new Date(`${isoDate}T00:00:00Z`);
  return date.toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

/** A signed amount: +50 / −20. */
export function signed(value) {
  return value > 0 ? `+${num(value)}` : value < 0 ? `−${num(-value)}` : "0";
}
