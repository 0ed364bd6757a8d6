using System.Text.Json.Serialization;

namespace Ingestion.Platform.Datasets;

/// <param name="Source">The header name that feeds the column, when it is not the column's name (<c>Booking Date</c>).</param>
/// <param name="Format">How the file writes the column's dates or timestamps (<see cref="CsvDialectRules.CheckFormat"/>); null: ISO 8601.</param>
public sealed record DatasetColumn(string Name, ColumnType Type, bool Required, string? Source = null, string? Format = null)
{
    /// <summary>The header name this column is matched by.</summary>
    public string HeaderName => Source ?? Name;
}

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
    IReadOnlyList<IReadOnlyList<string>>? Indexes = null,
    CsvDialect? Dialect = null,
    string? Format = null)
{
    /// <summary>How this dataset's files are written unless an upload says otherwise.</summary>
    public CsvDialect CsvDialect => Dialect ?? CsvDialect.Default;

    /// <summary>The format of this dataset's files unless an upload says otherwise (<see cref="UploadFormat"/>).</summary>
    public string FileFormat => Format ?? UploadFormat.Csv;

    /// <summary>Secondary indexes, each a list of columns; the key's index is not among them.</summary>
    public IReadOnlyList<IReadOnlyList<string>> SecondaryIndexes => Indexes ?? [];

    public DatasetColumn? Column(string name) =>
        Columns.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The column a header name feeds: its <see cref="DatasetColumn.Source"/>, or else its name, in any case.</summary>
    public DatasetColumn? ColumnForHeader(string headerName) =>
        Columns.FirstOrDefault(c => string.Equals(c.HeaderName, headerName, StringComparison.OrdinalIgnoreCase));
}
