using CsvHelper;
using Ingestion.Workers.Copy;

namespace Ingestion.Workers.Csv;

/// <summary>A CSV file's records (<see cref="CsvRecords"/>) checked and written by its <see cref="RowConverter"/>.</summary>
internal sealed class CsvUploadRecords(CsvRecords records, RowConverter converter) : IUploadRecords
{
    public bool Read()
    {
        try
        {
            return records.Read();
        }
        catch (CsvFormatException e)
        {
            throw new RecordTooLongException(records.AbsoluteLine(e.LineNumber), ", most likely because a quote is never closed");
        }
    }

    public long Line => records.StartLine;

    public RecordPosition End => new(records.EndOffset, records.EndLine);

    public ReadOnlySpan<byte> Raw => records.Reader.RawRecord;

    public long? ObjectBytesRead => records.ObjectRead?.BytesRead;

    public RowProblem? Check() => converter.Check(records);

    public void Write(BinaryCopyRows rows) => converter.Write(rows, records.Reader);

    public long IntegerAt(int slot) => converter.IntegerAt(slot);

    public void Dispose() => records.Dispose();
}
