impl < __Context > :: bincode :: Decode < __Context > for Blob
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            magic : :: bincode :: Decode :: decode(decoder) ?, version : ::
            bincode :: Decode :: decode(decoder) ?, kdf : :: bincode :: Decode
            :: decode(decoder) ?, iterations : :: bincode :: Decode ::
            decode(decoder) ?, salt : :: bincode :: Decode :: decode(decoder)
            ?, check : :: bincode :: Decode :: decode(decoder) ?, nonce : ::
            bincode :: Decode :: decode(decoder) ?, ciphertext : :: bincode ::
            Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for Blob
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            magic : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, version : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, kdf : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            iterations : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, salt : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, check : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?, nonce
            : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, ciphertext : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}