using System.Text.Json.Serialization;

namespace Ingestion.Platform.Datasets;

public sealed record DatasetColumn(string Name, ColumnType Type, bool Required);

[JsonConverter(typeof(JsonStringEnumConverter<KeyConflictPolicy>))]
public enum KeyConflictPolicy
{
    /// <summary>A row whose key is already in the table goes to the rejects file.</summary>
    Reject,

    /// <summary>A row whose key is already in the table replaces that row.</summary>
    Upsert,
}

/// <summary>
/// A dataset: a table with typed columns and a key, and how uploads load into it.
/// Built only through <see cref="DatasetRules.Validate"/>, so every name in it is a safe identifier.
/// </summary>
public sealed record DatasetDefinition(
    string Name,
    IReadOnlyList<DatasetColumn> Columns,
    IReadOnlyList<string> Key,
    KeyConflictPolicy OnKeyConflict = KeyConflictPolicy.Reject,
    bool IgnoreUnknownColumns = false,
    long? MaxRejectedRows = null,
    double? MaxRejectedRatio = null,
    IReadOnlyList<IReadOnlyList<string>>? Indexes = null)
{
    /// <summary>Secondary indexes, each a list of columns; the key's index is not among them.</summary>
    public IReadOnlyList<IReadOnlyList<string>> SecondaryIndexes => Indexes ?? [];

    public DatasetColumn? Column(string name) =>
        Columns.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));
}
