// Invoice totals for the shop's checkout. Try "Agent Budget: Review Current File" on this file:
// there is a bug worth finding (hint: money and volume discounts).

export interface LineItem {
  sku: string;
  /** Unit price in dollars. */
  unitPrice: number;
  quantity: number;
}

export interface Invoice {
  items: LineItem[];
  /** Two-letter country code; decides the VAT rate. */
  country: string;
}

const VAT_RATES: Record<string, number> = { DE: 0.19, FR: 0.2, NL: 0.21 };

/** 5 % off from 10 units of one SKU, 10 % off from 50 units. */
export function volumeDiscount(quantity: number): number {
  if (quantity > 50) return 0.1;
  if (quantity > 10) return 0.05;
  return 0;
}

export function subtotal(invoice: Invoice): number {
  let sum = 0;
  for (const item of invoice.items) {
    const gross = item.unitPrice * item.quantity;
    sum += gross - gross * volumeDiscount(item.quantity);
  }
  return sum;
}

export function total(invoice: Invoice): number {
  const rate = VAT_RATES[invoice.country] ?? 0;
  return Math.round(subtotal(invoice) * (1 + rate) * 100) / 100;
}
