using System.Globalization;
using PdfSharp.Drawing;
using PdfSharp.Pdf;

namespace Ingestion.Workers.Documents;

/// <summary>Who the statement is for, as every page's header says it.</summary>
internal sealed record StatementHeading(long AccountId, DateOnly From, DateOnly To, DateTimeOffset GeneratedAt, int Volumes);

/// <summary>
/// The page frame every statement page shares (A4, header with account and period, footer
/// with "Page p of P" and the volume), the fonts, and number formatting.
/// </summary>
internal sealed class StatementLayout(StatementHeading heading)
{
    /// <summary>Cover and two analytics pages.</summary>
    public const int FrontPages = 3;

    public const int LinesPerPage = 48;
    public const double Width = 595.28;
    public const double Height = 841.89;
    public const double Margin = 40;
    public const double RowHeight = 14.5;
    public const double BodyTop = 64;

    private static readonly XPdfFontOptions Unicode = XPdfFontOptions.UnicodeDefault;

    public XFont Text { get; } = new(SystemFontResolver.Family, 7.5, XFontStyleEx.Regular, Unicode);
    public XFont Bold { get; } = new(SystemFontResolver.Family, 7.5, XFontStyleEx.Bold, Unicode);
    public XFont Heading { get; } = new(SystemFontResolver.Family, 12, XFontStyleEx.Bold, Unicode);
    public XFont Title { get; } = new(SystemFontResolver.Family, 22, XFontStyleEx.Bold, Unicode);
    public XFont Large { get; } = new(SystemFontResolver.Family, 10, XFontStyleEx.Regular, Unicode);

    public XPen Rule { get; } = new(XColor.FromArgb(170, 170, 170), 0.5);

    public StatementHeading Statement => heading;

    public string Period => $"{heading.From:yyyy-MM-dd} – {heading.To:yyyy-MM-dd}";

    /// <summary>A new A4 page with its header and footer drawn; the caller draws the body.</summary>
    public XGraphics NewPage(PdfDocument document, int page, int pages, int volume)
    {
        var pdfPage = document.AddPage();
        pdfPage.Width = XUnit.FromPoint(Width);
        pdfPage.Height = XUnit.FromPoint(Height);
        var graphics = XGraphics.FromPdfPage(pdfPage);
        DrawFrame(graphics, page, pages, volume, Height);
        return graphics;
    }

    /// <summary>Header and footer, also over pages imported from attachments (whose height may differ).</summary>
    public void DrawFrame(XGraphics graphics, int page, int pages, int volume, double height)
    {
        graphics.DrawString($"Account {heading.AccountId}  ·  Statement {Period}", Bold, XBrushes.Black,
            new XRect(Margin, 28, 360, 12), XStringFormats.TopLeft);
        if (heading.Volumes > 1)
        {
            graphics.DrawString($"Volume {volume} of {heading.Volumes}", Bold, XBrushes.Black,
                new XRect(Width - Margin - 150, 28, 150, 12), XStringFormats.TopRight);
        }

        graphics.DrawLine(Rule, Margin, 42, Width - Margin, 42);
        graphics.DrawLine(Rule, Margin, height - 40, Width - Margin, height - 40);
        graphics.DrawString($"Generated {heading.GeneratedAt:yyyy-MM-dd HH:mm} UTC", Text, XBrushes.Gray,
            new XRect(Margin, height - 34, 250, 10), XStringFormats.TopLeft);
        graphics.DrawString($"Page {page} of {pages}", Text, XBrushes.Black,
            new XRect(Width - Margin - 150, height - 34, 150, 10), XStringFormats.TopRight);
    }

    /// <summary>
    /// Over an imported attachment page only a line at the very bottom: the attachment's own
    /// content may use the whole page.
    /// </summary>
    public void DrawAttachmentFooter(XGraphics graphics, string fileName, int page, int pages, double width, double height) =>
        graphics.DrawString($"Account {heading.AccountId}  ·  attached: {Fit(fileName, 60)}  ·  Page {page} of {pages}", Text,
            XBrushes.Gray, new XRect(0, height - 14, width, 10), XStringFormats.TopCenter);

    public static void Left(XGraphics graphics, string text, XFont font, double x, double y, double width) =>
        graphics.DrawString(text, font, XBrushes.Black, new XRect(x, y, width, RowHeight), XStringFormats.TopLeft);

    public static void Right(XGraphics graphics, string text, XFont font, double right, double y, double width) =>
        graphics.DrawString(text, font, XBrushes.Black, new XRect(right - width, y, width, RowHeight), XStringFormats.TopRight);

    public static string Money(decimal amount) => amount.ToString("#,##0.00;−#,##0.00", CultureInfo.InvariantCulture);

    /// <summary>Cut to fit a column; measuring every cell would cost more than the page itself.</summary>
    public static string Fit(string? text, int characters)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        text = text.ReplaceLineEndings(" ");
        return text.Length <= characters ? text : string.Concat(text.AsSpan(0, characters - 1), "…");
    }
}
