using CsvHelper;

namespace Ingestion.Tests.Infrastructure;

public sealed record RejectRow(long Line, string Column, string Reason, byte[] Record);

/// <summary>Reads a job's rejects file the way a client would: through its presigned URL.</summary>
public static class Rejects
{
    private static readonly HttpClient Plain = new();

    public static async Task<List<RejectRow>> DownloadAsync(string url)
    {
        var bytes = await Plain.GetByteArrayAsync(url);
        using var reader = CsvReader.Create(bytes, new CsvReaderOptions { Separator = ',', HasHeader = true });
        Assert.That(reader.Headers, Is.EqualTo(new[] { "line", "column", "reason", "record" }));
        var rows = new List<RejectRow>();
        while (reader.Read())
        {
            rows.Add(new RejectRow(long.Parse(reader.GetString(0), System.Globalization.CultureInfo.InvariantCulture),
                reader.GetString(1), reader.GetString(2), reader.GetSpan(3).ToArray()));
        }

        return rows;
    }
}
