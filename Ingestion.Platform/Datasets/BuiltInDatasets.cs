namespace Ingestion.Platform.Datasets;

/// <summary>Datasets every tenant has from the start.</summary>
public static class BuiltInDatasets
{
    /// <summary>Account transactions: what statements and the account views are built from.</summary>
    public static readonly DatasetDefinition Transactions = new(
        "transactions",
        [
            new("transaction_id", ColumnType.Uuid, Required: true),
            new("account_id", ColumnType.BigInt, Required: true),
            new("occurred_at", ColumnType.TimestampTz, Required: true),
            new("amount", ColumnType.Numeric(14, 2), Required: true),
            new("currency", ColumnType.Char(3), Required: true),
            new("merchant", ColumnType.Text, Required: false),
            new("category", ColumnType.Text, Required: false),
            new("description", ColumnType.Text, Required: false),
        ],
        ["transaction_id"],
        Indexes: [["account_id", "occurred_at"]]);

    /// <summary>The column of <see cref="Transactions"/> whose values have change counters of their own.</summary>
    public const string AccountColumn = "account_id";

    public static IReadOnlyList<DatasetDefinition> All { get; } = [Transactions];
}
