#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace sieve::eval {
namespace {

constexpr const char* kPalette[] = {"#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951",
                                    "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0"};
constexpr std::size_t kColours = sizeof(kPalette) / sizeof(kPalette[0]);

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double value, int digits = 4) {
  if (!std::isfinite(value)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

std::string Signed(double value, int digits = 4) {
  return (value > 0 ? "+" : "") + Num(value, digits);
}

// Cuts UTF-8 text to at most `limit` bytes on a character boundary.
std::string Excerpt(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "…";
}

// Grouped vertical bars: one group per category, one bar per series.
std::string BarChart(const std::vector<std::string>& categories,
                     const std::vector<std::string>& series,
                     const std::vector<std::vector<double>>& values,  // [category][series]
                     double max_value, const std::string& label) {
  const double width = 820, height = 260, left = 50, bottom = 60, top = 20;
  const double plot_h = height - bottom - top;
  const double group_w = (width - left - 10) / std::max<std::size_t>(1, categories.size());
  const double bar_w = std::min(40.0, (group_w - 10) / std::max<std::size_t>(1, series.size()));
  bool signed_values = false;
  for (const auto& row : values) {
    for (double v : row) signed_values = signed_values || v < 0;
  }
  double lo = 0, hi = max_value;
  for (const auto& row : values) {
    for (double v : row) {
      if (std::isfinite(v)) {
        hi = std::max(hi, v);
        lo = std::min(lo, v);
      }
    }
  }
  if (hi - lo <= 0) hi = lo + 1;
  auto y = [&](double v) { return top + plot_h * (hi - v) / (hi - lo); };
  std::string svg = "<svg role=\"img\" aria-label=\"" + Escape(label) + "\" width=\"" +
                    Num(width, 0) + "\" height=\"" + Num(height + 20.0 * 1, 0) +
                    "\" xmlns=\"http://www.w3.org/2000/svg\">";
  for (int i = 0; i <= 4; ++i) {
    const double v = lo + (hi - lo) * i / 4;
    svg += "<line x1=\"" + Num(left, 0) + "\" x2=\"" + Num(width - 5, 0) + "\" y1=\"" +
           Num(y(v), 1) + "\" y2=\"" + Num(y(v), 1) + "\" class=\"grid\"/>";
    svg += "<text x=\"" + Num(left - 6, 0) + "\" y=\"" + Num(y(v) + 4, 1) +
           "\" class=\"axis\" text-anchor=\"end\">" + Num(v, 2) + "</text>";
  }
  if (signed_values) {
    svg += "<line x1=\"" + Num(left, 0) + "\" x2=\"" + Num(width - 5, 0) + "\" y1=\"" +
           Num(y(0), 1) + "\" y2=\"" + Num(y(0), 1) + "\" class=\"zero\"/>";
  }
  for (std::size_t c = 0; c < categories.size(); ++c) {
    const double gx = left + c * group_w + (group_w - bar_w * series.size()) / 2;
    for (std::size_t s = 0; s < series.size(); ++s) {
      const double v = values[c][s];
      if (!std::isfinite(v)) continue;
      const double y0 = y(std::max(0.0, v)), y1 = y(std::min(0.0, v));
      svg += "<rect x=\"" + Num(gx + s * bar_w, 1) + "\" y=\"" + Num(y0, 1) + "\" width=\"" +
             Num(bar_w - 2, 1) + "\" height=\"" + Num(std::max(0.5, y1 - y0), 1) + "\" fill=\"" +
             kPalette[s % kColours] + "\"><title>" + Escape(categories[c]) + " · " +
             Escape(series[s]) + ": " + Num(v) + "</title></rect>";
    }
    svg += "<text x=\"" + Num(left + c * group_w + group_w / 2, 1) + "\" y=\"" +
           Num(height - bottom + 16, 0) + "\" class=\"axis\" text-anchor=\"middle\">" +
           Escape(categories[c]) + "</text>";
  }
  // Legend.
  double lx = left;
  for (std::size_t s = 0; s < series.size(); ++s) {
    svg += "<rect x=\"" + Num(lx, 0) + "\" y=\"" + Num(height - 22, 0) +
           "\" width=\"10\" height=\"10\" fill=\"" + kPalette[s % kColours] + "\"/>";
    svg += "<text x=\"" + Num(lx + 14, 0) + "\" y=\"" + Num(height - 13, 0) + "\" class=\"axis\">" +
           Escape(series[s]) + "</text>";
    lx += 24 + 7.0 * series[s].size();
  }
  svg += "</svg>";
  return svg;
}

std::string Histogram(const std::vector<double>& values, const std::string& label,
                      const char* colour) {
  const double width = 390, height = 170, left = 40, bottom = 30, top = 10;
  const int bins = 20;
  double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  if (hi <= lo) hi = lo + 1;
  std::vector<std::size_t> counts(bins, 0);
  for (double v : values) {
    int b = static_cast<int>((v - lo) / (hi - lo) * bins);
    counts[std::clamp(b, 0, bins - 1)]++;
  }
  const std::size_t peak = *std::max_element(counts.begin(), counts.end());
  const double plot_w = width - left - 10, plot_h = height - top - bottom;
  std::string svg = "<svg role=\"img\" aria-label=\"" + Escape(label) + "\" width=\"" +
                    Num(width, 0) + "\" height=\"" + Num(height, 0) +
                    "\" xmlns=\"http://www.w3.org/2000/svg\">";
  for (int b = 0; b < bins; ++b) {
    const double h = peak ? plot_h * counts[b] / peak : 0;
    svg += "<rect x=\"" + Num(left + plot_w * b / bins, 1) + "\" y=\"" + Num(top + plot_h - h, 1) +
           "\" width=\"" + Num(plot_w / bins - 1, 1) + "\" height=\"" + Num(h, 1) + "\" fill=\"" +
           colour + "\"><title>[" + Num(lo + (hi - lo) * b / bins, 3) + ", " +
           Num(lo + (hi - lo) * (b + 1) / bins, 3) + "): " + std::to_string(counts[b]) +
           "</title></rect>";
  }
  svg += "<text x=\"" + Num(left, 0) + "\" y=\"" + Num(height - 12, 0) + "\" class=\"axis\">" +
         Num(lo, 3) + "</text>";
  svg += "<text x=\"" + Num(width - 10, 0) + "\" y=\"" + Num(height - 12, 0) +
         "\" class=\"axis\" text-anchor=\"end\">" + Num(hi, 3) + "</text>";
  svg += "<text x=\"" + Num(left - 4, 0) + "\" y=\"" + Num(top + 10, 0) +
         "\" class=\"axis\" text-anchor=\"end\">" + std::to_string(peak) + "</text>";
  svg += "</svg>";
  return svg;
}

// Horizontal stacked bars: one per mode, one segment per stage (mean ms).
std::string StackedBars(const std::vector<std::string>& rows,
                        const std::vector<std::string>& stages,
                        const std::vector<std::vector<double>>& ms) {
  const double width = 820, row_h = 26, left = 130, top = 10;
  const double height = top + row_h * rows.size() + 40;
  double longest = 0;
  for (const auto& r : ms) {
    double sum = 0;
    for (double v : r) sum += v;
    longest = std::max(longest, sum);
  }
  if (longest <= 0) longest = 1;
  const double plot_w = width - left - 80;
  std::string svg = "<svg role=\"img\" aria-label=\"latency per stage\" width=\"" + Num(width, 0) +
                    "\" height=\"" + Num(height, 0) + "\" xmlns=\"http://www.w3.org/2000/svg\">";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const double y = top + r * row_h;
    svg += "<text x=\"" + Num(left - 6, 0) + "\" y=\"" + Num(y + 16, 0) +
           "\" class=\"axis\" text-anchor=\"end\">" + Escape(rows[r]) + "</text>";
    double x = left, sum = 0;
    for (std::size_t s = 0; s < stages.size(); ++s) {
      const double w = plot_w * ms[r][s] / longest;
      sum += ms[r][s];
      if (w <= 0) continue;
      svg += "<rect x=\"" + Num(x, 1) + "\" y=\"" + Num(y + 3, 0) + "\" width=\"" + Num(w, 1) +
             "\" height=\"" + Num(row_h - 8, 0) + "\" fill=\"" + kPalette[s % kColours] +
             "\"><title>" + Escape(rows[r]) + " · " + Escape(stages[s]) + ": " + Num(ms[r][s], 2) +
             " ms</title></rect>";
      x += w;
    }
    svg += "<text x=\"" + Num(x + 6, 1) + "\" y=\"" + Num(y + 16, 0) + "\" class=\"axis\">" +
           Num(sum, 1) + " ms</text>";
  }
  double lx = left;
  const double ly = top + row_h * rows.size() + 14;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    svg += "<rect x=\"" + Num(lx, 0) + "\" y=\"" + Num(ly, 0) +
           "\" width=\"10\" height=\"10\" fill=\"" + kPalette[s % kColours] + "\"/>";
    svg += "<text x=\"" + Num(lx + 14, 0) + "\" y=\"" + Num(ly + 9, 0) + "\" class=\"axis\">" +
           Escape(stages[s]) + "</text>";
    lx += 24 + 7.0 * stages[s].size();
  }
  svg += "</svg>";
  return svg;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const double rank = p * (values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = static_cast<std::size_t>(std::ceil(rank));
  return values[lo] + (values[hi] - values[lo]) * (rank - lo);
}

const char* kRootStages[] = {"search", "ask"};

bool IsRoot(const std::string& stage) {
  return std::find(std::begin(kRootStages), std::end(kRootStages), stage) != std::end(kRootStages);
}

std::string RetrievalTable(const ReportData& data, const std::vector<std::string>& rag_metrics) {
  std::string html = "<table><thead><tr><th>mode</th>";
  const bool any_retrieval = std::any_of(data.modes.begin(), data.modes.end(),
                                         [](const ReportMode& m) { return m.retrieval; });
  if (any_retrieval) {
    html += "<th>nDCG@10</th><th>MRR@10</th><th>Recall@100</th><th>MAP</th><th>ms/query</th>";
  }
  for (const auto& m : rag_metrics) html += "<th>" + Escape(m) + "</th>";
  html += "</tr></thead><tbody>";
  for (const auto& mode : data.modes) {
    html += "<tr><td>" + Escape(mode.name) + "</td>";
    if (any_retrieval) {
      if (mode.retrieval) {
        const Metrics& m = mode.retrieval->mean;
        html += "<td>" + Num(m.ndcg_at_10) + "</td><td>" + Num(m.mrr_at_10) + "</td><td>" +
                Num(m.recall_at_100) + "</td><td>" + Num(m.map) + "</td><td>" +
                Num(mode.ms_per_query, 1) + "</td>";
      } else {
        html += "<td colspan=\"5\">–</td>";
      }
    }
    for (const auto& name : rag_metrics) {
      const RagMetricSummary* s = mode.rag ? mode.rag->Find(name) : nullptr;
      if (s == nullptr) {
        html += "<td>–</td>";
      } else if (!s->skipped.empty()) {
        html += "<td class=\"muted\" title=\"" + Escape(s->skipped) + "\">skipped</td>";
      } else {
        std::string cell = s->mean ? Num(*s->mean) : "–";
        std::string extra;
        if (s->unparseable) extra += std::to_string(s->unparseable) + " unparseable ";
        if (s->failed) extra += std::to_string(s->failed) + " failed ";
        if (s->undefined) extra += std::to_string(s->undefined) + " undefined ";
        html += "<td title=\"" + std::to_string(s->scored) + " scored\">" + cell +
                (extra.empty() ? "" : " <span class=\"warn\">" + Escape(extra) + "</span>") +
                "</td>";
      }
    }
    html += "</tr>";
  }
  html += "</tbody></table>";
  return html;
}

}  // namespace

std::string RenderHtmlReport(const ReportData& data) {
  std::string html =
      "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
      Escape(data.title) +
      "</title><style>"
      "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;"
      "max-width:1100px;color:#1d1d1f;padding:0 16px}"
      "h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px "
      "solid #ddd;padding-bottom:4px}table{border-collapse:collapse;margin:8px 0}"
      "th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}"
      "th:first-child,td:first-child{text-align:left}th{background:#f6f6f8}"
      ".muted{color:#888}.warn{color:#b3261e;font-size:12px}.facts{color:#555}"
      ".grid{stroke:#e4e4e7}.zero{stroke:#555}.axis{font-size:11px;fill:#444}"
      ".hists{display:flex;flex-wrap:wrap;gap:16px}.hists figure{margin:0}"
      "figcaption{font-weight:600;font-size:13px}.passage{margin:4px 0 8px 16px;color:#333}"
      ".rel{color:#3ca951;font-weight:700}.nrel{color:#b3261e}details{margin:6px 0}"
      "summary{cursor:pointer}.q{font-weight:600}"
      "</style></head><body><h1>" +
      Escape(data.title) + "</h1>";
  for (const auto& fact : data.facts) html += "<div class=\"facts\">" + Escape(fact) + "</div>";

  // RAG metric names present in any mode, in their order.
  std::vector<std::string> rag_metrics;
  for (const auto& mode : data.modes) {
    if (!mode.rag) continue;
    for (const auto& m : mode.rag->metrics) {
      if (std::find(rag_metrics.begin(), rag_metrics.end(), m.name) == rag_metrics.end()) {
        rag_metrics.push_back(m.name);
      }
    }
  }

  // 1. Metrics per mode.
  html += "<h2>Metrics per retrieval mode</h2>" + RetrievalTable(data, rag_metrics);
  std::vector<std::string> names;
  for (const auto& mode : data.modes) names.push_back(mode.name);
  {
    std::vector<std::string> series;
    std::vector<std::vector<double>> values(data.modes.size());
    const bool any_retrieval = std::any_of(data.modes.begin(), data.modes.end(),
                                           [](const ReportMode& m) { return m.retrieval; });
    if (any_retrieval) series = {"nDCG@10", "MRR@10", "Recall@100", "MAP"};
    std::vector<std::string> shown_rag;
    for (const auto& name : rag_metrics) {
      bool has = false;
      for (const auto& mode : data.modes) {
        const RagMetricSummary* s = mode.rag ? mode.rag->Find(name) : nullptr;
        has = has || (s != nullptr && s->mean);
      }
      if (has) shown_rag.push_back(name);
    }
    series.insert(series.end(), shown_rag.begin(), shown_rag.end());
    for (std::size_t i = 0; i < data.modes.size(); ++i) {
      const ReportMode& mode = data.modes[i];
      if (any_retrieval) {
        if (mode.retrieval) {
          const Metrics& m = mode.retrieval->mean;
          values[i] = {m.ndcg_at_10, m.mrr_at_10, m.recall_at_100, m.map};
        } else {
          values[i] = {NAN, NAN, NAN, NAN};
        }
      }
      for (const auto& name : shown_rag) {
        const RagMetricSummary* s = mode.rag ? mode.rag->Find(name) : nullptr;
        values[i].push_back(s != nullptr && s->mean ? *s->mean : NAN);
      }
    }
    if (!series.empty() && !data.modes.empty()) {
      html += BarChart(names, series, values, 1.0, "metrics per retrieval mode");
    }
  }

  // 2. Gain from reranking.
  {
    std::string rows;
    std::vector<std::string> pairs;
    std::vector<std::vector<double>> deltas;
    for (const auto& mode : data.modes) {
      const std::string base_name = mode.name + "+rerank";
      for (const auto& other : data.modes) {
        std::string stripped = other.name;
        const auto at = stripped.find("+rerank");
        if (at == std::string::npos) continue;
        stripped.erase(at, 7);
        if (stripped != mode.name || !mode.retrieval || !other.retrieval) continue;
        const Metrics& a = mode.retrieval->mean;
        const Metrics& b = other.retrieval->mean;
        std::vector<double> d = {b.ndcg_at_10 - a.ndcg_at_10, b.mrr_at_10 - a.mrr_at_10,
                                 b.recall_at_100 - a.recall_at_100, b.map - a.map};
        // Per-query nDCG@10 wins and losses.
        std::map<std::string, double> before;
        for (const auto& q : mode.retrieval->per_query) before[q.query_id] = q.metrics.ndcg_at_10;
        int wins = 0, losses = 0;
        for (const auto& q : other.retrieval->per_query) {
          auto it = before.find(q.query_id);
          if (it == before.end()) continue;
          if (q.metrics.ndcg_at_10 > it->second + 1e-12) ++wins;
          if (q.metrics.ndcg_at_10 < it->second - 1e-12) ++losses;
        }
        rows += "<tr><td>" + Escape(mode.name) + " → " + Escape(other.name) + "</td><td>" +
                Signed(d[0]) + "</td><td>" + Signed(d[1]) + "</td><td>" + Signed(d[2]) +
                "</td><td>" + Signed(d[3]) + "</td><td>" + std::to_string(wins) + " / " +
                std::to_string(losses) + "</td><td>" +
                Signed(other.ms_per_query - mode.ms_per_query, 1) + "</td></tr>";
        pairs.push_back(mode.name);
        deltas.push_back(d);
      }
      (void)base_name;
    }
    html += "<h2>Gain from reranking</h2>";
    if (rows.empty()) {
      html += "<p class=\"muted\">No mode was run both with and without reranking.</p>";
    } else {
      html +=
          "<table><thead><tr><th>change</th><th>ΔnDCG@10</th><th>ΔMRR@10</th><th>ΔRecall@100"
          "</th><th>ΔMAP</th><th>queries better / worse (nDCG@10)</th><th>Δms/query</th></tr>"
          "</thead><tbody>" +
          rows + "</tbody></table>";
      html += BarChart(pairs, {"ΔnDCG@10", "ΔMRR@10", "ΔRecall@100", "ΔMAP"}, deltas, 0.0,
                       "gain from reranking");
    }
  }

  // 3. Score distributions per stage.
  {
    struct Stage {
      const char* name;
      std::function<std::optional<double>(const Scores&)> get;
    };
    const Stage stages[] = {
        {"BM25", [](const Scores& s) { return s.bm25; }},
        {"cosine (bi-encoder)", [](const Scores& s) { return s.cosine; }},
        {"RRF (fused)", [](const Scores& s) { return s.fused; }},
        {"cross-encoder", [](const Scores& s) { return s.rerank; }},
    };
    html +=
        "<h2>Score distributions per stage</h2><p class=\"muted\">Scores of the top 10 "
        "passages of every query, from the first mode where the stage ran.</p>"
        "<div class=\"hists\">";
    std::size_t shown = 0;
    for (std::size_t i = 0; i < std::size(stages); ++i) {
      for (const auto& mode : data.modes) {
        std::vector<double> values;
        for (const auto& d : mode.details) {
          for (std::size_t k = 0; k < d.scores.size() && k < 10; ++k) {
            if (auto v = stages[i].get(d.scores[k])) values.push_back(*v);
          }
        }
        if (values.empty()) continue;
        html += "<figure><figcaption>" + std::string(stages[i].name) + " — " + Escape(mode.name) +
                " (" + std::to_string(values.size()) + " scores)</figcaption>" +
                Histogram(values, stages[i].name, kPalette[i % kColours]) + "</figure>";
        ++shown;
        break;
      }
    }
    html += "</div>";
    if (shown == 0) html += "<p class=\"muted\">No retrieval run.</p>";
  }

  // 4. Latency per stage.
  {
    std::vector<std::string> stage_names;
    for (const auto& mode : data.modes) {
      for (const auto& d : mode.details) {
        for (const auto& t : d.timings) {
          if (!IsRoot(t.stage) &&
              std::find(stage_names.begin(), stage_names.end(), t.stage) == stage_names.end()) {
            stage_names.push_back(t.stage);
          }
        }
      }
    }
    html += "<h2>Latency per stage</h2>";
    if (stage_names.empty()) {
      html += "<p class=\"muted\">No timings.</p>";
    } else {
      std::string table = "<table><thead><tr><th>mode</th>";
      for (const auto& s : stage_names) table += "<th>" + Escape(s) + " mean / p95 ms</th>";
      table += "<th>total mean / p95 ms</th></tr></thead><tbody>";
      std::vector<std::string> rows;
      std::vector<std::vector<double>> means;
      for (const auto& mode : data.modes) {
        if (mode.details.empty()) continue;
        rows.push_back(mode.name);
        table += "<tr><td>" + Escape(mode.name) + "</td>";
        std::vector<double> row;
        for (const auto& stage : stage_names) {
          std::vector<double> per_query;
          for (const auto& d : mode.details) {
            double sum = 0;
            bool seen = false;
            for (const auto& t : d.timings) {
              if (t.stage == stage) {
                sum += t.ms;
                seen = true;
              }
            }
            if (seen) per_query.push_back(sum);
          }
          double mean = 0;
          for (double v : per_query) mean += v;
          mean = per_query.empty() ? 0 : mean / per_query.size();
          row.push_back(mean);
          table += per_query.empty() ? "<td>–</td>"
                                     : "<td>" + Num(mean, 2) + " / " +
                                           Num(Percentile(per_query, 0.95), 2) + "</td>";
        }
        std::vector<double> totals;
        for (const auto& d : mode.details) totals.push_back(d.ms);
        double mean = 0;
        for (double v : totals) mean += v;
        table += "<td>" + Num(mean / totals.size(), 2) + " / " + Num(Percentile(totals, 0.95), 2) +
                 "</td></tr>";
        means.push_back(std::move(row));
      }
      table += "</tbody></table>";
      html +=
          "<p class=\"muted\">Per-stage wall time from the engine's response timings (stages "
          "nest: retrieve includes the retrievers and the reranker).</p>";
      html += table + StackedBars(rows, stage_names, means);
    }
  }

  // 5. Worst questions.
  {
    html += "<h2>Worst questions</h2>";
    // The mode with the best nDCG@10 (its failures are the hardest), else the first RAG mode.
    const ReportMode* chosen = nullptr;
    for (const auto& mode : data.modes) {
      if (mode.retrieval &&
          (chosen == nullptr || !chosen->retrieval ||
           mode.retrieval->mean.ndcg_at_10 > chosen->retrieval->mean.ndcg_at_10)) {
        chosen = &mode;
      }
    }
    struct Worst {
      std::string id;
      double score;
      std::string measure;
      const QueryDetail* detail;
    };
    std::vector<Worst> worst;
    if (chosen != nullptr) {
      std::map<std::string, const QueryDetail*> by_id;
      for (const auto& d : chosen->details) by_id[d.query_id] = &d;
      for (const auto& q : chosen->retrieval->per_query) {
        auto it = by_id.find(q.query_id);
        worst.push_back({q.query_id, q.metrics.ndcg_at_10, "nDCG@10",
                         it == by_id.end() ? nullptr : it->second});
      }
    } else {
      for (const auto& mode : data.modes) {
        if (!mode.rag) continue;
        chosen = &mode;
        std::map<std::string, const QueryDetail*> by_id;
        for (const auto& d : mode.rag_details) by_id[d.query_id] = &d;
        for (const auto& s : mode.rag->samples) {
          if (s.scores.empty()) continue;
          double sum = 0;
          for (const auto& [name, v] : s.scores) sum += v;
          auto it = by_id.find(s.id);
          worst.push_back({s.id, sum / s.scores.size(), "mean RAG score",
                           it == by_id.end() ? nullptr : it->second});
        }
        break;
      }
    }
    std::stable_sort(worst.begin(), worst.end(),
                     [](const Worst& a, const Worst& b) { return a.score < b.score; });
    if (worst.size() > data.worst) worst.resize(data.worst);
    if (worst.empty() || chosen == nullptr) {
      html += "<p class=\"muted\">No scored questions.</p>";
    } else {
      html += "<p class=\"muted\">Lowest " + worst.front().measure + " in " + Escape(chosen->name) +
              "; ✓ marks a passage of a relevant document.</p>";
      for (const auto& w : worst) {
        auto text = data.query_text.find(w.id);
        html += "<details open><summary><span class=\"q\">" + Escape(w.id) + ": " +
                Escape(text == data.query_text.end() ? "" : text->second) + "</span> — " +
                w.measure + " " + Num(w.score) + "</summary>";
        auto judged = data.qrels.find(w.id);
        if (judged != data.qrels.end()) {
          std::string relevant;
          for (const auto& [doc, grade] : judged->second) {
            if (grade > 0) relevant += (relevant.empty() ? "" : ", ") + doc;
          }
          html += "<div class=\"passage muted\">relevant documents: " + Escape(relevant) + "</div>";
        }
        if (w.detail != nullptr) {
          for (std::size_t i = 0; i < w.detail->top.size(); ++i) {
            const Passage& p = w.detail->top[i];
            bool relevant = judged != data.qrels.end() && judged->second.count(p.doc_key) &&
                            judged->second.at(p.doc_key) > 0;
            html += "<div class=\"passage\"><b>" + std::to_string(i + 1) + ".</b> <span class=\"" +
                    (relevant ? "rel\">✓" : "nrel\">✗") + "</span> " + Escape(p.doc_key) +
                    (p.title.empty() ? "" : " — " + Escape(p.title)) + " <span class=\"muted\">(" +
                    Num(p.score) + ")</span><br>" + Escape(Excerpt(p.text, 400)) + "</div>";
          }
        }
        html += "</details>";
      }
    }
  }

  if (!data.notes.empty()) {
    html += "<h2>Notes</h2><ul>";
    for (const auto& note : data.notes) html += "<li>" + Escape(note) + "</li>";
    html += "</ul>";
  }
  html += "</body></html>\n";
  return html;
}

}  // namespace sieve::eval
