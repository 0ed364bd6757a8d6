using System.Globalization;
using PdfSharp.Drawing;
using PdfSharp.Pdf;
using static Ingestion.Workers.Documents.StatementLayout;

namespace Ingestion.Workers.Documents;

/// <summary>The pages of a statement: cover, analytics with the monthly chart, lines, attachments.</summary>
internal sealed class StatementPages(StatementLayout layout)
{
    private static readonly XBrush MoneyInBrush = new XSolidBrush(XColor.FromArgb(46, 139, 87));
    private static readonly XBrush MoneyOutBrush = new XSolidBrush(XColor.FromArgb(200, 70, 60));

    public void Cover(PdfDocument document, int page, int pages, IReadOnlyList<CurrencySummary> summary, StatementPlan plan,
        IReadOnlyList<Attachment> attachments)
    {
        using var g = layout.NewPage(document, page, pages, 1);
        var statement = layout.Statement;
        var y = 90.0;
        g.DrawString("Account statement", layout.Title, XBrushes.Black, new XRect(Margin, y, 400, 30), XStringFormats.TopLeft);
        y += 44;
        foreach (var (label, value) in new[]
                 {
                     ("Account", statement.AccountId.ToString(CultureInfo.InvariantCulture)),
                     ("Period", layout.Period + " (UTC)"),
                     ("Generated", $"{statement.GeneratedAt:yyyy-MM-dd HH:mm:ss} UTC"),
                     ("Transactions", plan.Lines.ToString("N0", CultureInfo.InvariantCulture)),
                     ("Pages", plan.Volumes.Count == 1
                         ? plan.Pages.ToString(CultureInfo.InvariantCulture)
                         : $"{plan.Pages:N0} in {plan.Volumes.Count} volumes"),
                     ("Attached documents", attachments.Count == 0 ? "none" : $"{attachments.Count} ({attachments.Sum(a => a.Pages)} pages)"),
                 })
        {
            g.DrawString(label, layout.Large, XBrushes.Gray, new XRect(Margin, y, 140, 14), XStringFormats.TopLeft);
            g.DrawString(value, layout.Large, XBrushes.Black, new XRect(Margin + 140, y, 360, 14), XStringFormats.TopLeft);
            y += 18;
        }

        y += 20;
        g.DrawString("Balances", layout.Heading, XBrushes.Black, new XRect(Margin, y, 300, 16), XStringFormats.TopLeft);
        y += 24;
        if (summary.All(s => s.Lines == 0) && summary.All(s => s.Opening == 0))
        {
            g.DrawString("No transactions in this period.", layout.Large, XBrushes.Black, new XRect(Margin, y, 400, 14), XStringFormats.TopLeft);
            return;
        }

        double[] right = [Margin + 120, Margin + 215, Margin + 310, Margin + 405, Width - Margin];
        Left(g, "Currency", layout.Bold, Margin, y, 60);
        string[] headings = ["Opening balance", "Money in", "Money out", "Closing balance", "Transactions"];
        for (var i = 0; i < headings.Length; i++)
        {
            Right(g, headings[i], layout.Bold, right[i], y, 95);
        }

        g.DrawLine(layout.Rule, Margin, y + RowHeight, Width - Margin, y + RowHeight);
        y += RowHeight + 4;
        foreach (var currency in summary)
        {
            Left(g, currency.Currency, layout.Text, Margin, y, 60);
            string[] cells = [Money(currency.Opening), Money(currency.MoneyIn), Money(currency.MoneyOut), Money(currency.Closing),
                currency.Lines.ToString("N0", CultureInfo.InvariantCulture)];
            for (var i = 0; i < cells.Length; i++)
            {
                Right(g, cells[i], layout.Text, right[i], y, 95);
            }

            y += RowHeight;
        }
    }

    /// <summary>Top categories and merchants.</summary>
    public void Categories(PdfDocument document, int page, int pages, IReadOnlyList<Breakdown> categories, IReadOnlyList<Breakdown> merchants)
    {
        using var g = layout.NewPage(document, page, pages, 1);
        var y = BodyTop;
        y = Table(g, y, $"Top {StatementData.TopCategories} categories", "Category", categories);
        y += 24;
        Table(g, y, $"Top {StatementData.TopMerchants} merchants", "Merchant", merchants);
    }

    /// <summary>Totals per month, and a bar chart of money in and out per month.</summary>
    public void Months(PdfDocument document, int page, int pages, IReadOnlyList<Breakdown> months, string? primaryCurrency)
    {
        using var g = layout.NewPage(document, page, pages, 1);
        var y = Table(g, BodyTop, "By month", "Month", months.Take(36).ToList());
        if (months.Count > 36)
        {
            Left(g, $"… and {months.Count - 36} more rows", layout.Text, Margin, y, 300);
        }

        var chartMonths = months.Where(m => m.Currency == primaryCurrency).ToList();
        if (chartMonths.Count > 0)
        {
            Chart(g, Height - 40 - 250, chartMonths, primaryCurrency!);
        }
    }

    /// <summary>One page of lines with repeated column headers; returns how many lines it drew.</summary>
    public void Lines(PdfDocument document, int page, int pages, int volume, IReadOnlyList<StatementLine> lines, Dictionary<string, decimal> balances)
    {
        using var g = layout.NewPage(document, page, pages, volume);
        var y = BodyTop - 14;
        Left(g, "Date", layout.Bold, Margin, y, 50);
        Left(g, "Description", layout.Bold, 90, y, 155);
        Left(g, "Merchant", layout.Bold, 248, y, 92);
        Left(g, "Category", layout.Bold, 343, y, 62);
        Right(g, "Amount", layout.Bold, 480, y, 72);
        Right(g, "Balance", layout.Bold, Width - Margin, y, 72);
        g.DrawLine(layout.Rule, Margin, y + RowHeight - 2, Width - Margin, y + RowHeight - 2);
        y += RowHeight + 2;
        if (lines.Count == 0)
        {
            Left(g, "No transactions in this period.", layout.Text, Margin, y, 300);
            return;
        }

        foreach (var line in lines)
        {
            var balance = balances[line.Currency] = balances.GetValueOrDefault(line.Currency) + line.Amount;
            Left(g, line.OccurredAt.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), layout.Text, Margin, y, 50);
            Left(g, Fit(line.Description, 34), layout.Text, 90, y, 155);
            Left(g, Fit(line.Merchant, 20), layout.Text, 248, y, 92);
            Left(g, Fit(line.Category, 13), layout.Text, 343, y, 62);
            Right(g, Money(line.Amount), layout.Text, 480, y, 72);
            Right(g, $"{Money(balance)} {line.Currency}", layout.Text, Width - Margin, y, 72);
            y += RowHeight;
        }
    }

    /// <summary>Imports an attached PDF's pages, each stamped with a footer naming it and its page number.</summary>
    public int Attachment(PdfDocument document, PdfDocument attachment, string fileName, int page, int pages)
    {
        foreach (var imported in attachment.Pages)
        {
            var added = document.AddPage(imported);
            using var g = XGraphics.FromPdfPage(added, XGraphicsPdfPageOptions.Append);
            layout.DrawAttachmentFooter(g, fileName, page++, pages, added.Width.Point, added.Height.Point);
        }

        return attachment.PageCount;
    }

    private double Table(XGraphics g, double y, string title, string label, IReadOnlyList<Breakdown> rows)
    {
        g.DrawString(title, layout.Heading, XBrushes.Black, new XRect(Margin, y, 300, 16), XStringFormats.TopLeft);
        y += 22;
        Left(g, label, layout.Bold, Margin, y, 170);
        Left(g, "Currency", layout.Bold, Margin + 175, y, 50);
        Right(g, "Money in", layout.Bold, Margin + 320, y, 90);
        Right(g, "Money out", layout.Bold, Margin + 410, y, 90);
        Right(g, "Net", layout.Bold, Margin + 470, y, 60);
        Right(g, "Count", layout.Bold, Width - Margin, y, 45);
        g.DrawLine(layout.Rule, Margin, y + RowHeight - 2, Width - Margin, y + RowHeight - 2);
        y += RowHeight + 2;
        if (rows.Count == 0)
        {
            Left(g, "No transactions in this period.", layout.Text, Margin, y, 300);
            return y + RowHeight;
        }

        foreach (var row in rows)
        {
            Left(g, Fit(row.Label, 40), layout.Text, Margin, y, 170);
            Left(g, row.Currency, layout.Text, Margin + 175, y, 50);
            Right(g, Money(row.MoneyIn), layout.Text, Margin + 320, y, 90);
            Right(g, Money(row.MoneyOut), layout.Text, Margin + 410, y, 90);
            Right(g, Money(row.Net), layout.Text, Margin + 470, y, 60);
            Right(g, row.Count.ToString("N0", CultureInfo.InvariantCulture), layout.Text, Width - Margin, y, 45);
            y += RowHeight;
        }

        return y;
    }

    /// <summary>Bars of money in (green) and out (red) per month, drawn with PDFsharp's own graphics.</summary>
    private void Chart(XGraphics g, double top, List<Breakdown> months, string currency)
    {
        const double height = 180;
        var left = Margin + 50;
        var width = Width - Margin - left;
        g.DrawString($"Money in and out per month ({currency})", layout.Heading, XBrushes.Black,
            new XRect(Margin, top, 400, 16), XStringFormats.TopLeft);
        var baseline = top + 30 + height;
        var max = months.Max(m => Math.Max(m.MoneyIn, -m.MoneyOut));
        if (max <= 0)
        {
            max = 1;
        }

        for (var tick = 0; tick <= 4; tick++)
        {
            var value = max * tick / 4;
            var ty = baseline - (double)(value / max) * height;
            g.DrawLine(layout.Rule, left, ty, left + width, ty);
            Right(g, Money(value), layout.Text, left - 4, ty - 5, 48);
        }

        var slot = width / months.Count;
        var bar = Math.Max(1, slot * 0.38);
        for (var i = 0; i < months.Count; i++)
        {
            var x = left + i * slot + slot * 0.1;
            var moneyIn = (double)(months[i].MoneyIn / max) * height;
            var moneyOut = (double)(-months[i].MoneyOut / max) * height;
            g.DrawRectangle(MoneyInBrush, x, baseline - moneyIn, bar, moneyIn);
            g.DrawRectangle(MoneyOutBrush, x + bar, baseline - moneyOut, bar, moneyOut);
            if (months.Count <= 18 || i % 3 == 0)
            {
                g.DrawString(months[i].Label, layout.Text, XBrushes.Black, new XRect(x - 8, baseline + 3, slot + 16, 10), XStringFormats.TopCenter);
            }
        }

        g.DrawRectangle(MoneyInBrush, left, baseline + 18, 8, 8);
        Left(g, "money in", layout.Text, left + 12, baseline + 16, 60);
        g.DrawRectangle(MoneyOutBrush, left + 80, baseline + 18, 8, 8);
        Left(g, "money out", layout.Text, left + 92, baseline + 16, 60);
    }
}
