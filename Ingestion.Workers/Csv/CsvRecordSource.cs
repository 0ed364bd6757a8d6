using System.Text.Unicode;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Storage;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Uploads;

namespace Ingestion.Workers.Csv;

/// <summary>A CSV upload read with its dialect: a header line (or declared fields), then records checked by <see cref="RowConverter"/>.</summary>
internal sealed class CsvRecordSource(ObjectStore store, ProcessUpload job, string? etag, DatasetDefinition dataset,
    CsvDialect dialect, SourceText text, UploadProcessingOptions options) : IRecordSource
{
    /// <summary>A dialect without escapes (an escape can hide a line break) and with a header, in text a scan can cut.</summary>
    public bool LoadsInChunks(long objectBytes, long chunkBytes) =>
        dialect.Splittable && TextChunkScan.Cuts(text, objectBytes, chunkBytes, options.ChunkCompressed);

    public Task<IChunkScan> ScanAsync(RecordPosition from, ChunkSizing sizing, long objectBytes, CancellationToken cancellationToken) =>
        TextChunkScan.OpenAsync(store, job, etag, text, from, sizing, objectBytes, (byte)dialect.Delimiter,
            (byte?)dialect.Quote, cancellationToken);

    public async Task<RecordStart> StartAsync(CancellationToken cancellationToken)
    {
        if (!dialect.Header)
        {
            // No header: the dialect declares the fields, and the first record is data. Nothing read yet: offset 0, line 0.
            var (declared, declaredProblem) = HeaderMap.For(dataset, dialect, dialect.Fields ?? []);
            return declaredProblem is not null
                ? RecordStart.Failed(declaredProblem)
                : new RecordStart(declared, declared!.Header, new RecordPosition(0, 0), null);
        }

        var records = await OpenCsvAsync(new RecordPosition(0, 1), null, cancellationToken);
        var problem = HeaderProblem(records, out var map);
        if (problem is not null)
        {
            records.Dispose();
            return RecordStart.Failed(problem);
        }

        return new RecordStart(map, map!.Header, new RecordPosition(records.EndOffset, records.EndLine),
            new CsvUploadRecords(records, new RowConverter(map, dialect, DecodedSource.Name(text.Encoding))));
    }

    /// <summary>Reads the header line and maps it to the dataset; the problem that makes the file unloadable, if any.</summary>
    private FileProblem? HeaderProblem(CsvRecords records, out HeaderMap? map)
    {
        map = null;
        bool read;
        try
        {
            read = records.Read();
        }
        catch (Exception e) when (e is CsvHelper.CsvFormatException or RecordTooLongException)
        {
            return new FileProblem("no_header", $"The first line is longer than {options.MaxRecordBytes:N0} bytes: it is no header.");
        }

        if (!read)
        {
            return new FileProblem("no_header", "The file has no header line: it holds only empty lines.");
        }

        if (records.Malformed is not null || !Utf8.IsValid(records.Reader.RawRecord))
        {
            return new FileProblem("no_header", "The first line is not a header: it is not valid UTF-8, or its quoting is broken.");
        }

        var header = Enumerable.Range(0, records.Reader.FieldCount).Select(records.Reader.GetString).ToList();
        (map, var problem) = HeaderMap.Build(dataset, header);
        return problem;
    }

    public (HeaderMap? Map, FileProblem? Problem) Resume(IReadOnlyList<string> header) => HeaderMap.For(dataset, dialect, header);

    public async Task<IUploadRecords> OpenAsync(HeaderMap map, RecordPosition from, long? endOffset, CancellationToken cancellationToken) =>
        new CsvUploadRecords(await OpenCsvAsync(from, endOffset, cancellationToken),
            new RowConverter(map, dialect, DecodedSource.Name(text.Encoding)));

    /// <summary>
    /// The records from a position. A position at offset 0 is a file without a header that nothing of has been read: the
    /// read starts on line 1 rather than just before a line break.
    /// </summary>
    private async Task<CsvRecords> OpenCsvAsync(RecordPosition from, long? endOffset, CancellationToken cancellationToken)
    {
        var (stream, objectRead) = await DecodedSource.OpenRangeAsync(store, job, etag, from.Offset, endOffset, text.Encoding,
            text.Compression, cancellationToken);
        return new CsvRecords(stream, from.Offset, from.Offset == 0 ? 1 : from.Line, options.MaxRecordBytes, dialect)
        {
            ObjectRead = objectRead,
        };
    }
}
