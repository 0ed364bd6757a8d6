using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Ingestion.Tests.Infrastructure;

/// <summary>CSV files for the transactions dataset, with ids no other test uses.</summary>
public sealed class TestCsv
{
    public const string Header = "transaction_id,account_id,occurred_at,amount,currency,merchant,category,description";

    private readonly int _seed = RandomNumberGenerator.GetInt32(int.MaxValue);

    public Guid Id(int row) => Guid.Parse($"{_seed:x8}-0000-4000-8000-{row:x12}");

    public string Row(int row, long account = 1) => string.Create(CultureInfo.InvariantCulture,
        $"{Id(row)},{account},2026-{1 + row % 12:00}-{1 + row % 28:00}T{row % 24:00}:{row % 60:00}:00Z,{row % 5000 - 2500}.{row % 100:00},CHF,Shop {row % 50},groceries,Row {row}");

    /// <summary><paramref name="rows"/> good rows, numbered from 1, LF line ends.</summary>
    public byte[] Transactions(int rows, long account = 1)
    {
        var text = new StringBuilder(Header).Append('\n');
        for (var row = 1; row <= rows; row++)
        {
            text.Append(Row(row, account)).Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
