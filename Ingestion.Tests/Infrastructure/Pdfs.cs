using System.Text.Json.Nodes;
using UglyToad.PdfPig;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.DocumentLayoutAnalysis.TextExtractor;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Ingestion.Tests.Infrastructure;

/// <summary>Reading statements as a client would (a plain HTTP GET of the presigned link), and making PDFs to attach.</summary>
public static class Pdfs
{
    private static readonly HttpClient Plain = new();

    /// <summary>Asks the API for the download link, then fetches the document with a client that has no API key.</summary>
    public static async Task<(byte[] Bytes, JsonNode Link)> DownloadAsync(HttpClient api, Guid jobId)
    {
        var link = await api.GetJsonAsync($"/v1/jobs/{jobId}/download");
        var bytes = await Plain.GetByteArrayAsync(link["url"]!.GetValue<string>());
        Assert.That(bytes.LongLength, Is.EqualTo(link["bytes"]!.GetValue<long>()));
        return (bytes, link);
    }

    /// <summary>The text of every page, in reading order.</summary>
    public static List<string> Pages(byte[] pdf)
    {
        using var document = PdfDocument.Open(pdf);
        return document.GetPages().Select(page => ContentOrderTextExtractor.GetText(page)).ToList();
    }

    /// <summary>The bytes of one volume of a statement that came as a ZIP.</summary>
    public static byte[] Read(System.IO.Compression.ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    public static string Title(byte[] pdf)
    {
        using var document = PdfDocument.Open(pdf);
        return document.Information.Title ?? "";
    }

    /// <summary>A PDF of one page per text, made with another library than the one under test.</summary>
    public static byte[] Make(params string[] pageTexts)
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        foreach (var text in pageTexts)
        {
            var page = builder.AddPage(PageSize.A4);
            page.AddText(text, 14, new UglyToad.PdfPig.Core.PdfPoint(60, 700), font);
        }

        return builder.Build();
    }
}
