using System.Globalization;
using System.Text;

namespace Ingestion.Bench;

/// <summary>Deterministic transactions CSV, about 140 bytes a row, cached under .data/bench.</summary>
internal static class CsvGenerator
{
    private static readonly string[] Merchants = ["Migros", "Coop", "SBB CFF FFS", "Zürich Bäckerei", "Łódź Café", "Αθήνα Books", "Digitec", "Swisscom"];
    private static readonly string[] Categories = ["groceries", "travel", "rent", "salary", "restaurants", "utilities", "electronics"];

    /// <param name="account">Every row for this account, or spread over 5,000 accounts when null.</param>
    public static string Transactions(long rows, long? account = null) =>
        Generate(account is null ? $"transactions-{rows}.csv" : $"transactions-{rows}-account-{account}.csv", writer =>
        {
            for (long i = 1; i <= rows; i++)
            {
                WriteRow(writer, i, account);
            }
        });

    /// <summary>Transactions until the file holds at least <paramref name="bytes"/> bytes.</summary>
    public static string OfSize(long bytes) => Generate($"upload-{bytes}.csv", writer =>
    {
        for (long i = 1; writer.BaseStream.Length < bytes; i++)
        {
            WriteRow(writer, i, null);
        }
    });

    private static string Generate(string name, Action<StreamWriter> rows)
    {
        var path = Path.Combine(Bench.Directory, name);
        if (File.Exists(path))
        {
            return path;
        }

        Bench.Log($"generating {name}");
        var partial = path + ".partial";
        using (var writer = new StreamWriter(partial, false, new UTF8Encoding(false), 1 << 20))
        {
            writer.Write("transaction_id,account_id,occurred_at,amount,currency,merchant,category,description\n");
            rows(writer);
        }

        File.Move(partial, path);
        return path;
    }

    /// <summary>The first of the two years the rows' timestamps span.</summary>
    public static readonly DateOnly FirstDay = new(2024, 1, 1);

    private static void WriteRow(StreamWriter writer, long i, long? account)
    {
        var inv = CultureInfo.InvariantCulture;
        writer.Write("00000000-0000-4000-8000-");
        writer.Write(i.ToString("x12", inv));
        writer.Write(',');
        writer.Write((account ?? 100_000 + i % 5000).ToString(inv));
        writer.Write(',');
        writer.Write(new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(i * 17 % 63_072_000).ToString("yyyy-MM-ddTHH:mm:ssZ", inv));
        writer.Write(',');
        writer.Write(((i * 7919 % 200_000) - 100_000).ToString(inv));
        writer.Write('.');
        writer.Write((i % 100).ToString("00", inv));
        writer.Write(",CHF,");
        writer.Write(Merchants[i % Merchants.Length]);
        writer.Write(',');
        writer.Write(Categories[i % Categories.Length]);
        writer.Write(",\"Card payment ");
        writer.Write(i.ToString(inv));
        writer.Write(", terminal ");
        writer.Write((i % 977).ToString(inv));
        writer.Write("\"\n");
    }
}
