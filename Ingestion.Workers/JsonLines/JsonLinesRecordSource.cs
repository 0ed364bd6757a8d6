using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Storage;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Syncs;
using Ingestion.Workers.Uploads;

namespace Ingestion.Workers.JsonLines;

/// <summary>
/// A JSON Lines upload: no header, every column of the dataset fed by a JSON path (<see cref="UploadFormat.JsonPathOf"/>:
/// its source, or the top-level field of its name), and the records from the file's first byte. Its text can be cut
/// into chunks at any line break, since a JSON string's line breaks are always escaped.
/// </summary>
internal sealed class JsonLinesRecordSource(ObjectStore store, ProcessUpload job, string? etag, DatasetDefinition dataset,
    SourceText text, UploadProcessingOptions options) : IRecordSource
{
    private readonly List<JsonPath> _paths = dataset.Columns
        .Select(c => UploadFormat.JsonPathOf(c, out var problem)
            ?? throw new InvalidOperationException($"Column {c.Name} of dataset {dataset.Name} has no JSON path: {problem}"))
        .ToList();

    /// <summary>
    /// Text, plain or compressed, in UTF-8 or UTF-16 (by its byte order mark, as Windows PowerShell writes files) and read in
    /// UTF-8: every line break byte is a record boundary (no quotes).
    /// </summary>
    public bool LoadsInChunks(long objectBytes, long chunkBytes) =>
        TextChunkScan.Cuts(text, objectBytes, chunkBytes, options.ChunkCompressed);

    public Task<IChunkScan> ScanAsync(RecordPosition from, ChunkSizing sizing, long objectBytes, CancellationToken cancellationToken) =>
        TextChunkScan.OpenAsync(store, job, etag, text, from, sizing, objectBytes, (byte)'\n', null, cancellationToken);

    public Task<RecordStart> StartAsync(CancellationToken cancellationToken)
    {
        var map = Map();
        // The checkpoint keeps the paths that fed the columns, for whoever reads it; nothing is read yet: offset 0, line 0.
        return Task.FromResult(new RecordStart(map, _paths.Select(p => p.Text).ToList(), new RecordPosition(0, 0), null));
    }

    public (HeaderMap? Map, FileProblem? Problem) Resume(IReadOnlyList<string> header) => (Map(), null);

    public async Task<IUploadRecords> OpenAsync(HeaderMap map, RecordPosition from, long? endOffset, CancellationToken cancellationToken)
    {
        var names = map.Columns.Select(c => c.Column.Name).ToList();
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < names.Count; i++)
        {
            fields.Add(names[i], _paths[i].Text);
        }

        var mapper = new RecordMapper(dataset, new SourceRecords("$", fields), null);
        if (!mapper.ColumnNames.SequenceEqual(names))
        {
            throw new InvalidOperationException($"The JSON mapper of job {job.JobId} writes its columns in another order than the COPY lists them.");
        }

        var (stream, objectRead) = await DecodedSource.OpenRangeAsync(store, job, etag, from.Offset, endOffset, text.Encoding,
            text.Compression, cancellationToken);
        return new JsonLineRecords(stream, from, options.MaxRecordBytes, mapper, names, _paths, DecodedSource.Name(text.Encoding))
        {
            ObjectRead = objectRead,
        };
    }

    /// <summary>Every column of the dataset, in its order: a field missing from a record is NULL (or a reject, if required).</summary>
    private HeaderMap Map() =>
        new(dataset.Columns.Select(c => c.Name).ToList(), dataset.Columns.Select((c, i) => new MappedColumn(c, i)).ToList());
}
