// Types for parse-prometheus-text-format (a dev dependency without its own): prom2json's shape.
declare module "parse-prometheus-text-format" {
  export interface ParsedMetric {
    value: string;
    labels?: Record<string, string>;
    timestamp_ms?: string;
  }
  export interface ParsedFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: ParsedMetric[];
  }
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
